// Package peer identifies the local process on the other end of a Workload API unix
// socket connection: gRPC transport credentials that read SO_PEERCRED and hold a pidfd
// for the peer, so a caller can later prove the process it attested is still the one
// that connected and not another that reused its PID.
package peer
