package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
)

// txn is a write transaction that prepares each distinct statement once, so a batch of
// thousands of items pays for parsing only once per statement.
type txn struct {
	s     *Store
	tx    *sql.Tx
	stmts map[string]*sql.Stmt
}

var _ querier = (*txn)(nil)

// write runs fn in one write transaction, committing when fn returns nil. Write transactions
// take turns: SQLite's BEGIN IMMEDIATE, or the dialect's WriteLock.
func (s *Store) write(ctx context.Context, fn func(t *txn) error) error {
	tx, err := s.writer.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	t := &txn{s: s, tx: tx, stmts: map[string]*sql.Stmt{}}
	defer t.closeStmts()
	if s.d.WriteLock != "" {
		if _, err := tx.ExecContext(ctx, s.d.WriteLock); err != nil {
			tx.Rollback()
			return fmt.Errorf("take the write lock: %w", err)
		}
	}
	if err := fn(t); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
}

func (t *txn) stmt(ctx context.Context, query string) (*sql.Stmt, error) {
	if st, ok := t.stmts[query]; ok {
		return st, nil
	}
	st, err := t.tx.PrepareContext(ctx, t.s.q(query))
	if err != nil {
		return nil, err
	}
	t.stmts[query] = st
	return st, nil
}

func (t *txn) closeStmts() {
	for _, st := range t.stmts {
		st.Close()
	}
}

func (t *txn) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	st, err := t.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	return st.ExecContext(ctx, args...)
}

func (t *txn) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	st, err := t.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	return st.QueryContext(ctx, args...)
}

func (t *txn) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	st, err := t.stmt(ctx, query)
	if err != nil {
		// Let the unprepared path report the same error through the Row.
		return t.tx.QueryRowContext(ctx, t.s.q(query), args...)
	}
	return st.QueryRowContext(ctx, args...)
}

// bulkRows is how many rows one multi-row INSERT carries; with at most three columns that
// stays far below SQLite's limit of 32766 bound parameters (PostgreSQL's is 65535).
const bulkRows = 500

// bulkInsert buffers rows for one table and writes them with multi-row INSERTs, which cost far
// less per row than a statement each. Rows reach the table in the order they were added.
type bulkInsert struct {
	t      *txn
	prefix string // "INSERT INTO table (a, b) VALUES "
	tuple  string // "(?, ?)"
	args   []any
	n      int
}

func newBulkInsert(t *txn, table string, cols ...string) *bulkInsert {
	return &bulkInsert{
		t:      t,
		prefix: "INSERT INTO " + table + " (" + strings.Join(cols, ", ") + ") VALUES ",
		tuple:  "(" + strings.TrimSuffix(strings.Repeat("?, ", len(cols)), ", ") + ")",
	}
}

func (b *bulkInsert) add(ctx context.Context, vals ...any) error {
	b.args = append(b.args, vals...)
	if b.n++; b.n == bulkRows {
		return b.flush(ctx)
	}
	return nil
}

func (b *bulkInsert) flush(ctx context.Context) error {
	if b.n == 0 {
		return nil
	}
	q := b.prefix + strings.TrimSuffix(strings.Repeat(b.tuple+", ", b.n), ", ")
	_, err := b.t.ExecContext(ctx, q, b.args...)
	b.args, b.n = b.args[:0], 0
	return err
}
