package attestors

import "context"

// Selector is one attested property, such as {Type: "unix", Value: "uid:1000"}.
// Registration entries name the selectors a workload or node must have.
type Selector struct {
	Type  string
	Value string
}

// String renders the selector the way operators write it: "unix:uid:1000".
func (s Selector) String() string { return s.Type + ":" + s.Value }

// WorkloadAttestor discovers the selectors of a local process that called the Workload
// API. Attest is called concurrently for every call (a hot path), so implementations
// cache expensive work and honour ctx cancellation. The pid may belong to a process
// that exits or is replaced mid-call; the caller detects that afterwards with the
// connection's pidfd, so Attest need not. An error fails the call; a property that does
// not apply (a workload that is not in a container) yields no selector, not an error.
type WorkloadAttestor interface {
	Attest(ctx context.Context, pid int32) ([]Selector, error)
}
