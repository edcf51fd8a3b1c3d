// Package server assembles lanyard-server from its component packages: Start builds them
// in the order data flows (data_dir and datastore, CA, caches, server SVID, listeners,
// federation, API services, gRPC servers, Kubernetes controllers), passing each value to
// what needs it, then runs them; Stop and Wait shut them down in order.
// cmd/lanyard-server is a thin wrapper around it.
package server
