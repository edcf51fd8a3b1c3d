package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/lanyard-dev/lanyard/server/datastore/sqlstore"

	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver
)

// busyTimeoutMS is how long a statement waits for a lock held by another connection (or
// another process opening the same file, e.g. a backup tool) before failing with SQLITE_BUSY.
const busyTimeoutMS = 10000

// migrations are the shared schema in SQLite's types. SQLite compares TEXT byte by byte.
var migrations = sqlstore.Migrations(sqlstore.Types{
	Serial: "INTEGER PRIMARY KEY AUTOINCREMENT", Int: "INTEGER", Text: "TEXT", Blob: "BLOB", NoRowID: " WITHOUT ROWID",
})

// Store is a datastore.Store over one SQLite file. It is safe for concurrent use.
type Store = sqlstore.Store

// ErrSchemaTooNew is wrapped by Open when the file was written by a newer lanyard-server.
var ErrSchemaTooNew = sqlstore.ErrSchemaTooNew

// Open opens (creating if missing) the SQLite database at path, brings its schema up to date
// and returns the store. A missing parent directory is created with mode 0700 and a new file
// with mode 0600, since the file holds join tokens and the CA journal.
//
// Durability: journal_mode=WAL with synchronous=FULL. NORMAL would already survive kill -9 of
// the process, but could lose the last acknowledged transactions on power loss or an OS crash;
// FULL costs one fsync per transaction, cheap at a control plane's write rate, and a bundle or
// CA journal change that silently rolls back after a reboot would desynchronise issued SVIDs.
func Open(ctx context.Context, path string, log *slog.Logger) (*Store, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := preparePath(path, log); err != nil {
		return nil, err
	}
	// writer has exactly one connection: SQLite runs one write transaction at a time anyway,
	// and queueing writers in Go instead of in SQLite's busy handler avoids SQLITE_BUSY.
	writer, err := openPool(path, "_txlock=immediate&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_pragma=cache_size(-65536)")
	if err != nil {
		return nil, err
	}
	writer.SetMaxOpenConns(1)
	writer.SetMaxIdleConns(1)
	writer.SetConnMaxLifetime(0)
	writer.SetConnMaxIdleTime(0)
	if err := writer.PingContext(ctx); err != nil {
		writer.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	// reader is a pool of query_only connections; in WAL mode they never block the writer.
	reader, err := openPool(path, "_pragma=query_only(1)")
	if err != nil {
		writer.Close()
		return nil, err
	}
	n := max(4, runtime.NumCPU())
	reader.SetMaxOpenConns(n)
	reader.SetMaxIdleConns(n)
	d := sqlstore.Dialect{
		Name:       "sqlite",
		Where:      path,
		Migrations: migrations,
		// Let SQLite refresh its planner statistics where they are stale; cheap, and it keeps
		// the selector queries on their indexes as tables grow.
		BeforeClose: func(db *sql.DB) error {
			_, err := db.Exec("PRAGMA optimize")
			return err
		},
	}
	s, err := sqlstore.New(ctx, d, writer, reader, log)
	if err != nil {
		return nil, err
	}
	if err := reader.PingContext(ctx); err != nil {
		s.Close()
		return nil, fmt.Errorf("sqlite: open %s for reading: %w", path, err)
	}
	return s, nil
}

// preparePath creates the parent directory and an empty 0600 file before SQLite sees the path:
// SQLite would create the file with 0644, and it copies the database file's mode to the -wal
// and -shm files it creates later.
func preparePath(path string, log *slog.Logger) error {
	if path == "" {
		return errors.New("sqlite: database path is empty: set datastore.connection_string to a file path")
	}
	if path == ":memory:" || strings.HasPrefix(path, "file:") || strings.ContainsAny(path, "?#") {
		return fmt.Errorf("sqlite: database path %q must be a plain file path (no URI, '?' or '#')", path)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("sqlite: create directory for %s: %w", path, err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	info, err := f.Stat()
	f.Close()
	if err != nil {
		return fmt.Errorf("sqlite: stat %s: %w", path, err)
	}
	if info.IsDir() {
		return fmt.Errorf("sqlite: %s is a directory, want a database file path", path)
	}
	if info.Mode().Perm()&0o077 != 0 {
		log.Warn("datastore file is readable by other users; it holds join tokens, consider chmod 600",
			"path", path, "mode", info.Mode().Perm().String())
	}
	return nil
}

func openPool(path, params string) (*sql.DB, error) {
	dsn := path + "?_pragma=busy_timeout(" + fmt.Sprint(busyTimeoutMS) + ")&_pragma=foreign_keys(1)&" + params
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	return db, nil
}
