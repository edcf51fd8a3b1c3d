// Package unixsock is how lanyard-server (admin API) and lanyard-agent (Workload API)
// listen on unix sockets: in a directory no other non-root user can write to or owns
// (else that user could swap the socket for their own), replacing only a stale socket
// of a previous run, with the socket's mode set before anyone can connect. It also
// chooses the default socket paths.
package unixsock
