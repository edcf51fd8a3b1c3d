package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/lanyard-dev/lanyard/server/datastore"
)

// CreateJoinToken implements datastore.JoinTokenStore.
func (s *Store) CreateJoinToken(ctx context.Context, token *datastore.JoinToken) error {
	switch {
	case token == nil:
		return s.errorf("create join token: the token is nil")
	case token.Token == "":
		return s.errorf("create join token: the token value is empty")
	case token.ExpiresAt.IsZero():
		return s.errorf("create join token: ExpiresAt is zero: every join token needs an expiry")
	}
	err := s.write(ctx, func(t *txn) error {
		res, err := t.ExecContext(ctx, `INSERT INTO join_tokens (token, expires_at, agent_id) VALUES (?, ?, ?)
			ON CONFLICT (token) DO NOTHING`, token.Token, unixNano(token.ExpiresAt), token.AgentID)
		if err != nil {
			return err
		}
		if ok, err := changedOne(res); err != nil {
			return err
		} else if !ok {
			// Never echo the token: it is a secret.
			return fmt.Errorf("a join token with this value: %w", datastore.ErrAlreadyExists)
		}
		return nil
	})
	if err != nil {
		return s.errorf("create join token: %w", err)
	}
	return nil
}

// TakeJoinToken implements datastore.JoinTokenStore with one DELETE ... RETURNING, so of
// several concurrent takers exactly one gets the token.
func (s *Store) TakeJoinToken(ctx context.Context, token string) (*datastore.JoinToken, error) {
	jt := &datastore.JoinToken{Token: token}
	err := s.write(ctx, func(t *txn) error {
		var expires int64
		err := t.QueryRowContext(ctx, `DELETE FROM join_tokens WHERE token = ? RETURNING expires_at, agent_id`,
			token).Scan(&expires, &jt.AgentID)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("join token: %w", datastore.ErrNotFound)
		}
		jt.ExpiresAt = time.Unix(0, expires)
		return err
	})
	if err != nil {
		return nil, s.errorf("take join token: %w", err)
	}
	return jt, nil
}

// PruneJoinTokens implements datastore.JoinTokenStore.
func (s *Store) PruneJoinTokens(ctx context.Context, expiredBefore time.Time) error {
	err := s.write(ctx, func(t *txn) error {
		_, err := t.ExecContext(ctx, `DELETE FROM join_tokens WHERE expires_at < ?`, unixNano(expiredBefore))
		return err
	})
	if err != nil {
		return s.errorf("prune join tokens: %w", err)
	}
	return nil
}

// FetchCAJournal implements datastore.CAJournalStore.
func (s *Store) FetchCAJournal(ctx context.Context, serverID string) ([]byte, error) {
	var data []byte
	err := s.read.QueryRowContext(ctx, `SELECT data FROM ca_journals WHERE server_id = ?`, serverID).Scan(&data)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, s.errorf("fetch CA journal of %q: %w", serverID, datastore.ErrNotFound)
	}
	if err != nil {
		return nil, s.errorf("fetch CA journal of %q: %w", serverID, err)
	}
	return slices.Clone(data), nil
}

// SetCAJournal implements datastore.CAJournalStore.
func (s *Store) SetCAJournal(ctx context.Context, serverID string, data []byte) error {
	if serverID == "" {
		return s.errorf("set CA journal: the server ID is empty")
	}
	if data == nil {
		data = []byte{} // the column is NOT NULL; an empty journal is still a journal
	}
	err := s.write(ctx, func(t *txn) error {
		_, err := t.ExecContext(ctx, `INSERT INTO ca_journals (server_id, data) VALUES (?, ?)
			ON CONFLICT (server_id) DO UPDATE SET data = excluded.data`, serverID, data)
		return err
	})
	if err != nil {
		return s.errorf("set CA journal of %q: %w", serverID, err)
	}
	return nil
}
