package postgres

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/lanyard-dev/lanyard/server/datastore/sqlstore"
)

// Store is a datastore.Store over a PostgreSQL database. It is safe for concurrent use by
// many goroutines and many servers.
type Store = sqlstore.Store

// ErrSchemaTooNew is wrapped by Open when the database was written by a newer lanyard-server.
var ErrSchemaTooNew = sqlstore.ErrSchemaTooNew

// Pool sizes the connection pool. Zero fields take the defaults below.
type Pool struct {
	MaxOpenConns    int           // default 10; every server holds up to this many connections
	MaxIdleConns    int           // default MaxOpenConns
	ConnMaxLifetime time.Duration // default 30m; connections are replaced after this long
	ConnMaxIdleTime time.Duration // default 5m; idle connections are closed after this long
}

// Defaults of Pool.
const (
	DefaultMaxOpenConns    = 10
	DefaultConnMaxLifetime = 30 * time.Minute
	DefaultConnMaxIdleTime = 5 * time.Minute
)

func (p Pool) withDefaults() Pool {
	if p.MaxOpenConns == 0 {
		p.MaxOpenConns = DefaultMaxOpenConns
	}
	if p.MaxIdleConns == 0 {
		p.MaxIdleConns = p.MaxOpenConns
	}
	if p.ConnMaxLifetime == 0 {
		p.ConnMaxLifetime = DefaultConnMaxLifetime
	}
	if p.ConnMaxIdleTime == 0 {
		p.ConnMaxIdleTime = DefaultConnMaxIdleTime
	}
	return p
}

// writeLockKey is the advisory lock every write transaction takes; any constant unlikely to
// be used by another application on the same database will do.
const writeLockKey = 0x6c616e79 // "lany"

// migrations are the shared schema in PostgreSQL's types. Keys and names compare by bytes
// (COLLATE "C") whatever the database's locale, as in SQLite, so listings page the same way.
//
// A B-tree entry holds at most about 2.7 kB, less than two SPIFFE IDs of the allowed 2048
// bytes, so entries are kept unique on a digest of their identity instead of its text.
// lanyard_identity is immutable: for one database, the same text always encodes the same.
var migrations = sqlstore.Migrations(sqlstore.Types{
	Serial: "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY", Int: "BIGINT", Text: `TEXT COLLATE "C"`, Blob: "BYTEA",
	IdentityIndex: `CREATE FUNCTION lanyard_identity(parent_id TEXT, spiffe_id TEXT, selectors TEXT) RETURNS BYTEA
	LANGUAGE SQL IMMUTABLE STRICT PARALLEL SAFE
	AS $$ SELECT sha256(convert_to(parent_id, 'UTF8')) || sha256(convert_to(spiffe_id, 'UTF8')) || sha256(convert_to(selectors, 'UTF8')) $$;
CREATE UNIQUE INDEX entries_identity ON entries (lanyard_identity(parent_id, spiffe_id, selectors));`,
})

// findIdentity uses the entries_identity index, then compares the text itself.
const findIdentity = `SELECT id FROM entries WHERE lanyard_identity(parent_id, spiffe_id, selectors) = lanyard_identity($1, $2, $3)
	AND parent_id = $1 AND spiffe_id = $2 AND selectors = $3 AND id <> $4`

// Open connects to the database named by connString (a postgres:// URL or a libpq
// key=value DSN), brings its schema up to date and returns the store. Several servers may
// open the same database at once; they migrate it in turn.
func Open(ctx context.Context, connString string, pool Pool, log *slog.Logger) (*Store, error) {
	if connString == "" {
		return nil, errors.New("postgres: connection string is empty: set datastore.connection_string")
	}
	cfg, err := pgx.ParseConfig(connString)
	if err != nil {
		// pgx's message redacts the password.
		return nil, fmt.Errorf("postgres: parse datastore.connection_string: %w", err)
	}
	where := fmt.Sprintf("postgres database %q on %s:%d as %q", cfg.Database, cfg.Host, cfg.Port, cfg.User)
	pool = pool.withDefaults()
	db := stdlib.OpenDB(*cfg)
	db.SetMaxOpenConns(pool.MaxOpenConns)
	db.SetMaxIdleConns(pool.MaxIdleConns)
	db.SetConnMaxLifetime(pool.ConnMaxLifetime)
	db.SetConnMaxIdleTime(pool.ConnMaxIdleTime)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("postgres: connect to %s: %w", where, err)
	}
	d := sqlstore.Dialect{
		Name:         "postgres",
		Where:        where,
		Migrations:   migrations,
		Numbered:     true,
		WriteLock:    fmt.Sprintf("SELECT pg_advisory_xact_lock(%d)", writeLockKey),
		FindIdentity: findIdentity,
	}
	return sqlstore.New(ctx, d, db, db, log)
}
