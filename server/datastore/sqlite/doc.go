// Package sqlite is the default datastore.Store: one SQLite file (pure Go, no cgo) in WAL mode,
// written through a single connection and read through a small pool. It suits one server;
// several servers sharing state use package postgres. The queries live in package sqlstore.
package sqlite
