// Package attestors holds the contracts shared by Lanyard's attestors: selectors, the
// node attestor halves (agent prover, server verifier) and the workload attestor the
// agent runs for every Workload API call. Implementations live in subpackages named
// after their selector type (jointoken, unix, ...).
package attestors
