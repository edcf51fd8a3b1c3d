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
	return OpenWith(ctx, path, Options{}, log)
}

// Options changes what Open accepts.
type Options struct {
	// AcceptLoss opens a database whose write-ahead log is missing or damaged (ErrLogDamaged)
	// as SQLite sees it, losing the transactions the log held. For an operator who chose
	// that over restoring a backup.
	AcceptLoss bool
}

// OpenWith is Open with options.
//
// Before SQLite touches the file it checks for damage SQLite would hide: a write-ahead log
// deleted after an unclean stop, or one whose committed frames cannot be read (ErrLogDamaged).
// It then runs PRAGMA quick_check. Close checkpoints the log into the database file.
func OpenWith(ctx context.Context, path string, opts Options, log *slog.Logger) (_ *Store, err error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := preparePath(path, log); err != nil {
		return nil, err
	}
	marker, err := acquireMarker(path, false)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			marker.abandon()
		}
	}()
	if err := checkWAL(path, marker.unclean); err != nil {
		if !opts.AcceptLoss {
			return nil, err
		}
		log.Warn("opening a damaged datastore as asked; transactions in its write-ahead log are lost", "path", path, "error", err)
	}
	writer, reader, err := openPools(ctx, path)
	if err != nil {
		return nil, err
	}
	d := sqlstore.Dialect{
		Name:       "sqlite",
		Where:      path,
		Migrations: migrations,
		BeforeClose: func(db *sql.DB) error {
			// Let SQLite refresh its planner statistics where they are stale; cheap, and it
			// keeps the selector queries on their indexes as tables grow.
			_, err := db.Exec("PRAGMA optimize")
			// Move the log into the database file, so the file alone is the whole database
			// (a copy of it is complete) and the next start has nothing to recover.
			if _, cpErr := db.Exec("PRAGMA wal_checkpoint(TRUNCATE)"); cpErr != nil {
				log.Warn("could not move the write-ahead log into the database file at close (disk full?); "+
					"keep it: the next start replays it", "path", path+"-wal", "error", cpErr)
			}
			return err
		},
		AfterClose: func() { marker.release(path) },
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

// openPools opens the writer and reader pools and checks the file's integrity. It closes
// both on failure.
func openPools(ctx context.Context, path string) (writer, reader *sql.DB, err error) {
	// writer has exactly one connection: SQLite runs one write transaction at a time anyway,
	// and queueing writers in Go instead of in SQLite's busy handler avoids SQLITE_BUSY.
	writer, err = openPool(path, "_txlock=immediate&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_pragma=cache_size(-65536)")
	if err != nil {
		return nil, nil, err
	}
	writer.SetMaxOpenConns(1)
	writer.SetMaxIdleConns(1)
	writer.SetConnMaxLifetime(0)
	writer.SetConnMaxIdleTime(0)
	if err := quickCheck(ctx, writer, path); err != nil {
		writer.Close()
		return nil, nil, err
	}
	// reader is a pool of query_only connections; in WAL mode they never block the writer.
	reader, err = openPool(path, "_pragma=query_only(1)")
	if err != nil {
		writer.Close()
		return nil, nil, err
	}
	n := max(4, runtime.NumCPU())
	reader.SetMaxOpenConns(n)
	reader.SetMaxIdleConns(n)
	return writer, reader, nil
}

// quickCheck runs PRAGMA quick_check: a pass over every page that finds damaged b-trees
// and unreadable pages (it skips only the index-content cross-check of integrity_check),
// so a damaged file fails at start instead of on the first query that reads the bad page.
func quickCheck(ctx context.Context, db *sql.DB, path string) error {
	rows, err := db.QueryContext(ctx, "PRAGMA quick_check(5)")
	if err != nil {
		return fmt.Errorf("sqlite: %s: %w: SQLite cannot read it: %w", path, ErrCorrupt, err)
	}
	defer rows.Close()
	var problems []string
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			return fmt.Errorf("sqlite: %s: %w: integrity check: %w", path, ErrCorrupt, err)
		}
		if line != "ok" {
			problems = append(problems, line)
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("sqlite: %s: %w: integrity check: %w", path, ErrCorrupt, err)
	}
	if len(problems) > 0 {
		return fmt.Errorf("sqlite: %s: %w: PRAGMA quick_check reports: %s", path, ErrCorrupt, strings.Join(problems, "; "))
	}
	return nil
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
