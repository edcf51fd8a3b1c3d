package sqlstore

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/lanyard-dev/lanyard/server/datastore"
)

// Dialect is what differs between the databases a Store runs on.
type Dialect struct {
	// Name prefixes every error, e.g. "sqlite" or "postgres".
	Name string
	// Where names the database in errors and logs (a file path, a host and database name);
	// never a password.
	Where string
	// Migrations[i] brings the schema from version i to i+1. Append only.
	Migrations []string
	// Numbered placeholders ($1, $2, ...) instead of "?".
	Numbered bool
	// WriteLock, when set, is run first in every write transaction. It must block until no
	// other write transaction on the database holds it, across processes: writes then take
	// turns as they do in SQLite, so entry event IDs become visible in increasing order and
	// read-modify-write steps cannot interleave.
	WriteLock string
	// FindIdentity, when set, replaces the query that finds the entry with a given identity,
	// to match a Types.IdentityIndex. Its parameters are the parent ID, the SPIFFE ID, the
	// encoded selectors and an entry ID to leave out, in that order.
	FindIdentity string
	// BeforeClose, when set, runs on the writer pool before it closes (best effort).
	BeforeClose func(db *sql.DB) error
	// AfterClose, when set, runs once both pools are closed.
	AfterClose func()
}

// rebind turns "?" placeholders into the dialect's. Queries hold no literal "?".
func (d *Dialect) rebind(q string) string {
	if !d.Numbered || !strings.Contains(q, "?") {
		return q
	}
	var b strings.Builder
	n := 0
	for _, r := range q {
		if r == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// Store is a datastore.Store over database/sql. It is safe for concurrent use.
type Store struct {
	d   Dialect
	log *slog.Logger
	now func() time.Time

	// writer runs write transactions; reader runs single queries. They may be the same pool.
	writer *sql.DB
	reader *sql.DB
	read   querier

	rebound sync.Map // query -> query in the dialect's placeholders

	closeOnce sync.Once
	closeErr  error
}

var (
	_ datastore.Store           = (*Store)(nil)
	_ datastore.FederationStore = (*Store)(nil)
)

// New brings the schema up to date and returns the store. The store owns both pools and
// closes them in Close, also when New fails.
func New(ctx context.Context, d Dialect, writer, reader *sql.DB, log *slog.Logger) (*Store, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Store{d: d, log: log, now: time.Now, writer: writer, reader: reader}
	s.read = &dbQuerier{db: reader, s: s}
	if err := s.migrate(ctx); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

func (s *Store) errorf(format string, args ...any) error {
	return fmt.Errorf(s.d.Name+": "+format, args...)
}

func (s *Store) q(query string) string {
	if !s.d.Numbered {
		return query
	}
	if v, ok := s.rebound.Load(query); ok {
		return v.(string)
	}
	r := s.d.rebind(query)
	s.rebound.Store(query, r)
	return r
}

// Where names the database (a file path, a host and database name; never a password).
func (s *Store) Where() string { return s.d.Where }

// Close closes both pools. It is safe to call more than once.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		var errs []error
		if s.reader != nil && s.reader != s.writer {
			errs = append(errs, s.reader.Close())
		}
		if s.d.BeforeClose != nil {
			if err := s.d.BeforeClose(s.writer); err != nil {
				s.log.Debug("datastore close hook failed", "err", err)
			}
		}
		errs = append(errs, s.writer.Close())
		if s.d.AfterClose != nil {
			s.d.AfterClose()
		}
		if err := errors.Join(errs...); err != nil {
			s.closeErr = s.errorf("close %s: %w", s.d.Where, err)
		}
	})
	return s.closeErr
}

// querier is what the read pool and a write transaction have in common. Queries use "?".
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// dbQuerier runs queries on a pool in the dialect's placeholders.
type dbQuerier struct {
	db *sql.DB
	s  *Store
}

func (q *dbQuerier) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return q.db.ExecContext(ctx, q.s.q(query), args...)
}

func (q *dbQuerier) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return q.db.QueryContext(ctx, q.s.q(query), args...)
}

func (q *dbQuerier) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	return q.db.QueryRowContext(ctx, q.s.q(query), args...)
}

// noLimit is a LIMIT that every dialect accepts and that never limits.
const noLimit = math.MaxInt64

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
