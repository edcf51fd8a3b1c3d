// Package datastore defines what lanyard-server persists (registration entries,
// attested agents, join tokens, bundles, the CA journal) and the Store interface
// that a backend (SQLite by default, PostgreSQL for several servers) implements.
// API types live in spire-api-sdk; these are the storage shapes, free of proto.
package datastore
