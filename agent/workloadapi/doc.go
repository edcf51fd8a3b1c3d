// Package workloadapi serves the SPIFFE Workload API on a unix socket: it identifies
// each caller by its peer credentials and the workload attestors, and streams the
// X.509-SVIDs, JWT-SVIDs and bundles the agent's cache holds for it, pushing again
// whenever they change. Clients are any SPIFFE SDK, e.g. go-spiffe's workloadapi.
package workloadapi
