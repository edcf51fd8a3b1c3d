package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/lanyard-dev/lanyard/server/datastore"
)

const agentColumns = `id, attestation_type, serial_number, expires_at, new_serial_number, new_expires_at,
	selectors, banned, can_reattest, created_at, updated_at, agent_version`

func agentArgs(a *datastore.Agent) []any {
	return []any{a.ID, a.AttestationType, a.SerialNumber, a.ExpiresAt, a.NewSerialNumber, a.NewExpiresAt,
		encodeSelectors(a.Selectors), boolInt(a.Banned), boolInt(a.CanReattest), a.CreatedAt, a.UpdatedAt, a.AgentVersion}
}

func scanAgent(sc scanner) (*datastore.Agent, error) {
	var a datastore.Agent
	var sels string
	var banned, canReattest int
	if err := sc.Scan(&a.ID, &a.AttestationType, &a.SerialNumber, &a.ExpiresAt, &a.NewSerialNumber,
		&a.NewExpiresAt, &sels, &banned, &canReattest, &a.CreatedAt, &a.UpdatedAt, &a.AgentVersion); err != nil {
		return nil, err
	}
	a.Banned, a.CanReattest = banned != 0, canReattest != 0
	var err error
	if a.Selectors, err = decodeSelectors(sels); err != nil {
		return nil, fmt.Errorf("agent %s: %w", a.ID, err)
	}
	return &a, nil
}

// normalAgent validates in and returns a copy with sorted, distinct selectors.
func normalAgent(in *datastore.Agent) (*datastore.Agent, error) {
	if in == nil {
		return nil, errors.New("the agent is nil")
	}
	if in.ID == "" {
		return nil, errors.New("agent ID is empty")
	}
	if err := validSelectors(in.Selectors); err != nil {
		return nil, fmt.Errorf("agent %s: %w", in.ID, err)
	}
	a := *in
	a.Selectors = datastore.SortSelectors(in.Selectors)
	if len(a.Selectors) == 0 {
		a.Selectors = nil
	}
	return &a, nil
}

func insertAgentSelectors(ctx context.Context, q querier, a *datastore.Agent) error {
	for _, sel := range a.Selectors {
		if _, err := q.ExecContext(ctx, `INSERT INTO agent_selectors (agent_id, type, value) VALUES (?, ?, ?)`,
			a.ID, sel.Type, sel.Value); err != nil {
			return err
		}
	}
	return nil
}

// CreateAgent implements datastore.AgentStore. CreatedAt and UpdatedAt are kept when set and
// default to now: the API layer stamps them with its own clock.
func (s *Store) CreateAgent(ctx context.Context, agent *datastore.Agent) (*datastore.Agent, error) {
	a, err := normalAgent(agent)
	if err != nil {
		return nil, s.errorf("create agent: %w", err)
	}
	now := s.now().Unix()
	if a.CreatedAt == 0 {
		a.CreatedAt = now
	}
	if a.UpdatedAt == 0 {
		a.UpdatedAt = now
	}
	err = s.write(ctx, func(t *txn) error {
		res, err := t.ExecContext(ctx, `INSERT INTO agents (`+agentColumns+`)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`, agentArgs(a)...)
		if err != nil {
			return err
		}
		if ok, err := changedOne(res); err != nil {
			return err
		} else if !ok {
			return fmt.Errorf("agent %q already exists: %w", a.ID, datastore.ErrAlreadyExists)
		}
		return insertAgentSelectors(ctx, t, a)
	})
	if err != nil {
		return nil, s.errorf("create agent: %w", err)
	}
	return a, nil
}

// UpdateAgent implements datastore.AgentStore. The compare and the write happen under the
// store's write lock, so no other writer (on any server sharing the database) comes between.
func (s *Store) UpdateAgent(ctx context.Context, agent *datastore.Agent, mask datastore.AgentMask, cond *datastore.AgentCondition) (*datastore.Agent, error) {
	in, err := normalAgent(agent)
	if err != nil {
		return nil, s.errorf("update agent: %w", err)
	}
	var out *datastore.Agent
	err = s.write(ctx, func(t *txn) error {
		cur, err := getAgent(ctx, t, in.ID)
		if err != nil {
			return err
		}
		if err := checkAgentCondition(cur, cond); err != nil {
			return err
		}
		a := applyAgentMask(cur, in, mask)
		if a.UpdatedAt == 0 {
			a.UpdatedAt = s.now().Unix()
		}
		if _, err := t.ExecContext(ctx, `UPDATE agents SET (`+agentColumns+`) =
			(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) WHERE id = ?`, append(agentArgs(a), a.ID)...); err != nil {
			return err
		}
		out = a
		if encodeSelectors(cur.Selectors) == encodeSelectors(a.Selectors) {
			return nil
		}
		if _, err := t.ExecContext(ctx, `DELETE FROM agent_selectors WHERE agent_id = ?`, a.ID); err != nil {
			return err
		}
		return insertAgentSelectors(ctx, t, a)
	})
	if err != nil {
		return nil, s.errorf("update agent: %w", err)
	}
	return out, nil
}

func checkAgentCondition(cur *datastore.Agent, cond *datastore.AgentCondition) error {
	switch {
	case cond == nil:
		return nil
	case cur.Banned:
		return fmt.Errorf("agent %q was banned meanwhile: %w", cur.ID, datastore.ErrConflict)
	case cur.SerialNumber != cond.SerialNumber || cur.NewSerialNumber != cond.NewSerialNumber:
		return fmt.Errorf("agent %q: its SVID serials changed meanwhile: %w", cur.ID, datastore.ErrConflict)
	}
	return nil
}

// applyAgentMask returns cur with the masked fields taken from in, and in's UpdatedAt.
func applyAgentMask(cur, in *datastore.Agent, m datastore.AgentMask) *datastore.Agent {
	a := *cur
	if m.AttestationType {
		a.AttestationType = in.AttestationType
	}
	if m.SerialNumber {
		a.SerialNumber = in.SerialNumber
	}
	if m.ExpiresAt {
		a.ExpiresAt = in.ExpiresAt
	}
	if m.NewSerialNumber {
		a.NewSerialNumber = in.NewSerialNumber
	}
	if m.NewExpiresAt {
		a.NewExpiresAt = in.NewExpiresAt
	}
	if m.Selectors {
		a.Selectors = in.Selectors
	}
	if m.Banned {
		a.Banned = in.Banned
	}
	if m.CanReattest {
		a.CanReattest = in.CanReattest
	}
	if m.AgentVersion {
		a.AgentVersion = in.AgentVersion
	}
	a.UpdatedAt = in.UpdatedAt
	return &a
}

// GetAgent implements datastore.AgentStore.
func (s *Store) GetAgent(ctx context.Context, id string) (*datastore.Agent, error) {
	a, err := getAgent(ctx, s.read, id)
	if err != nil {
		return nil, s.errorf("get agent: %w", err)
	}
	return a, nil
}

func getAgent(ctx context.Context, q querier, id string) (*datastore.Agent, error) {
	a, err := scanAgent(q.QueryRowContext(ctx, `SELECT `+agentColumns+` FROM agents WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("agent %q not found: %w", id, datastore.ErrNotFound)
	}
	return a, err
}

// DeleteAgent implements datastore.AgentStore.
func (s *Store) DeleteAgent(ctx context.Context, id string) error {
	err := s.write(ctx, func(t *txn) error {
		res, err := t.ExecContext(ctx, `DELETE FROM agents WHERE id = ?`, id)
		if err != nil {
			return err
		}
		if ok, err := changedOne(res); err != nil {
			return err
		} else if !ok {
			return fmt.Errorf("agent %q not found: %w", id, datastore.ErrNotFound)
		}
		return nil
	})
	if err != nil {
		return s.errorf("delete agent: %w", err)
	}
	return nil
}

func agentWhere(f datastore.AgentFilter) ([]string, []any, error) {
	var terms []string
	var args []any
	if f.ByAttestationType != "" {
		terms, args = append(terms, "a.attestation_type = ?"), append(args, f.ByAttestationType)
	}
	if f.BySelectors != nil && len(f.BySelectors.Selectors) > 0 {
		if err := validSelectors(f.BySelectors.Selectors); err != nil {
			return nil, nil, fmt.Errorf("filter by selectors: %w", err)
		}
		term, a, err := setFilter("a", "agent_selectors", "agent_id", []string{"type", "value"},
			selectorTuples(f.BySelectors.Selectors), f.BySelectors.Match)
		if err != nil {
			return nil, nil, fmt.Errorf("filter by selectors: %w", err)
		}
		terms, args = append(terms, term), append(args, a...)
	}
	if f.ByBanned != nil {
		terms, args = append(terms, "a.banned = ?"), append(args, boolInt(*f.ByBanned))
	}
	if f.ByCanReattest != nil {
		terms, args = append(terms, "a.can_reattest = ?"), append(args, boolInt(*f.ByCanReattest))
	}
	if f.ByExpiresBefore != 0 {
		terms, args = append(terms, "a.expires_at < ?"), append(args, f.ByExpiresBefore)
	}
	return terms, args, nil
}

// ListAgents implements datastore.AgentStore: agents ordered by ID.
func (s *Store) ListAgents(ctx context.Context, filter datastore.AgentFilter, page datastore.Page) ([]*datastore.Agent, string, error) {
	terms, args, err := agentWhere(filter)
	if err != nil {
		return nil, "", s.errorf("list agents: %w", err)
	}
	pageTerm, pageArgs, limit, err := pageQuery("a.id", page)
	if err != nil {
		return nil, "", s.errorf("list agents: %w", err)
	}
	if pageTerm != "" {
		terms, args = append(terms, pageTerm), append(args, pageArgs...)
	}
	q := `SELECT ` + agentColumns + ` FROM agents a` + whereClause(terms) + ` ORDER BY a.id LIMIT ?`
	rows, err := s.read.QueryContext(ctx, q, append(args, limit)...)
	if err != nil {
		return nil, "", s.errorf("list agents: %w", err)
	}
	defer rows.Close()
	var out []*datastore.Agent
	for rows.Next() {
		a, err := scanAgent(rows)
		if err != nil {
			return nil, "", s.errorf("list agents: %w", err)
		}
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, "", s.errorf("list agents: %w", err)
	}
	out, next := nextToken(out, page, func(a *datastore.Agent) string { return a.ID })
	return out, next, nil
}

// CountAgents implements datastore.AgentStore.
func (s *Store) CountAgents(ctx context.Context, filter datastore.AgentFilter) (int, error) {
	terms, args, err := agentWhere(filter)
	if err != nil {
		return 0, s.errorf("count agents: %w", err)
	}
	var n int
	if err := s.read.QueryRowContext(ctx, `SELECT count(*) FROM agents a`+whereClause(terms), args...).Scan(&n); err != nil {
		return 0, s.errorf("count agents: %w", err)
	}
	return n, nil
}
