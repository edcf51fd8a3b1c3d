// Package server assembles lanyard-server: datastore, key manager, CA, entry cache,
// the spire-api-sdk services on a TLS endpoint for agents and on a unix admin socket,
// and the health/metrics endpoint. cmd/lanyard-server is a thin wrapper around it.
package server
