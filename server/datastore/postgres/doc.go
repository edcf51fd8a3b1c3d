// Package postgres is the datastore.Store for several lanyard-server processes sharing one
// PostgreSQL database (pgx). It runs the same schema and queries as the SQLite store
// (package sqlstore); write transactions take turns through an advisory lock, as SQLite's
// single writer does, so every server observes entry events in order.
package postgres
