package sqlite

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/lanyard-dev/lanyard/server/datastore"

	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver
)

// busyTimeoutMS is how long a statement waits for a lock held by another connection (or
// another process opening the same file, e.g. a backup tool) before failing with SQLITE_BUSY.
const busyTimeoutMS = 10000

// Store is a datastore.Store over one SQLite file. It is safe for concurrent use.
type Store struct {
	log  *slog.Logger
	path string
	now  func() time.Time

	// writer has exactly one connection: SQLite runs one write transaction at a time anyway,
	// and queueing writers in Go instead of in SQLite's busy handler avoids SQLITE_BUSY.
	writer *sql.DB
	// reader is a pool of query_only connections; in WAL mode they never block the writer.
	reader *sql.DB

	closeOnce sync.Once
	closeErr  error
}

var _ datastore.Store = (*Store)(nil)

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
	s := &Store{log: log, path: path, now: time.Now}

	var err error
	s.writer, err = openPool(path, "_txlock=immediate&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_pragma=cache_size(-65536)")
	if err != nil {
		return nil, err
	}
	s.writer.SetMaxOpenConns(1)
	s.writer.SetMaxIdleConns(1)
	s.writer.SetConnMaxLifetime(0)
	s.writer.SetConnMaxIdleTime(0)
	if err := s.writer.PingContext(ctx); err != nil {
		s.writer.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	if err := migrate(ctx, s.writer, path, log); err != nil {
		s.writer.Close()
		return nil, err
	}

	s.reader, err = openPool(path, "_pragma=query_only(1)")
	if err != nil {
		s.writer.Close()
		return nil, err
	}
	n := max(4, runtime.NumCPU())
	s.reader.SetMaxOpenConns(n)
	s.reader.SetMaxIdleConns(n)
	if err := s.reader.PingContext(ctx); err != nil {
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

// Close closes both pools. It is safe to call more than once.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		var errs []error
		if s.reader != nil {
			errs = append(errs, s.reader.Close())
		}
		// Let SQLite refresh its planner statistics where they are stale; cheap, and it keeps
		// the selector queries on their indexes as tables grow.
		if _, err := s.writer.Exec("PRAGMA optimize"); err != nil {
			s.log.Debug("PRAGMA optimize failed", "err", err)
		}
		errs = append(errs, s.writer.Close())
		if err := errors.Join(errs...); err != nil {
			s.closeErr = fmt.Errorf("sqlite: close %s: %w", s.path, err)
		}
	})
	return s.closeErr
}

// querier is what *sql.DB and *sql.Tx have in common.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// newID returns a random version 4 UUID.
func newID() string {
	var b [16]byte
	rand.Read(b[:]) // never fails (crypto/rand aborts the process instead)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// changedOne reports whether a statement changed exactly one row.
func changedOne(res sql.Result) (bool, error) {
	n, err := res.RowsAffected()
	return n == 1, err
}

// unixNano is t.UnixNano clamped to int64, whose range ends in 1678 and 2262, so a zero or far
// future time still compares correctly against stored nanosecond timestamps.
func unixNano(t time.Time) int64 {
	switch {
	case t.Before(time.Unix(0, math.MinInt64)):
		return math.MinInt64
	case t.After(time.Unix(0, math.MaxInt64)):
		return math.MaxInt64
	}
	return t.UnixNano()
}
