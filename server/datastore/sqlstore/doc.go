// Package sqlstore is the datastore.Store over database/sql that the SQLite and PostgreSQL
// backends share: queries, codecs, filters and transactions are written once in the SQL both
// accept, and each backend supplies a Dialect (its schema, placeholders and write lock).
package sqlstore
