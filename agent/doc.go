// Package agent assembles lanyard-agent: node attestation (or the saved agent SVID),
// the server connection, the manager that keeps the cache current, the Workload API
// socket, agent SVID renewal, and the health/metrics endpoint.
package agent
