package sqlstore

import (
	"context"
	"database/sql"
	"errors"
)

// ErrSchemaTooNew is wrapped by New when the database was written by a newer lanyard-server.
var ErrSchemaTooNew = errors.New("database schema is newer than this lanyard-server")

// migrate applies the missing steps of the dialect's migrations in one transaction, so a
// failed upgrade leaves the database as it was. The dialect's write lock makes servers
// starting at the same time on a shared database take turns.
func (s *Store) migrate(ctx context.Context) error {
	where := s.d.Where
	tx, err := s.writer.BeginTx(ctx, nil)
	if err != nil {
		return s.errorf("migrate %s: %w", where, err)
	}
	defer tx.Rollback()
	if s.d.WriteLock != "" {
		if _, err := tx.ExecContext(ctx, s.d.WriteLock); err != nil {
			return s.errorf("migrate %s: take the write lock: %w", where, err)
		}
	}
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_version (
		id      INTEGER PRIMARY KEY CHECK (id = 1),
		version INTEGER NOT NULL
	)`); err != nil {
		return s.errorf("migrate %s: create schema_version: %w", where, err)
	}
	var version int
	err = tx.QueryRowContext(ctx, `SELECT version FROM schema_version WHERE id = 1`).Scan(&version)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		if _, err := tx.ExecContext(ctx, `INSERT INTO schema_version (id, version) VALUES (1, 0)`); err != nil {
			return s.errorf("migrate %s: %w", where, err)
		}
	case err != nil:
		return s.errorf("migrate %s: read schema_version: %w", where, err)
	}
	steps := s.d.Migrations
	if version > len(steps) {
		return s.errorf("%s has schema version %d but this lanyard-server knows versions up to %d: "+
			"run a lanyard-server at least as new as the one that last wrote the database: %w",
			where, version, len(steps), ErrSchemaTooNew)
	}
	if version == len(steps) {
		return nil
	}
	for v := version; v < len(steps); v++ {
		if _, err := tx.ExecContext(ctx, steps[v]); err != nil {
			return s.errorf("migrate %s from schema version %d to %d: %w", where, v, v+1, err)
		}
	}
	if _, err := tx.ExecContext(ctx, s.d.rebind(`UPDATE schema_version SET version = ? WHERE id = 1`), len(steps)); err != nil {
		return s.errorf("migrate %s: %w", where, err)
	}
	if err := tx.Commit(); err != nil {
		return s.errorf("migrate %s: commit: %w", where, err)
	}
	s.log.Info("datastore schema migrated", "database", where, "from", version, "to", len(steps))
	return nil
}
