package sqlstore

import (
	"context"
	"fmt"
	"time"

	"github.com/lanyard-dev/lanyard/server/datastore"
)

// entryWhere turns a filter into WHERE terms over the entries table aliased e.
func entryWhere(f datastore.EntryFilter) ([]string, []any, error) {
	var terms []string
	var args []any
	if f.BySPIFFEID != "" {
		terms, args = append(terms, "e.spiffe_id = ?"), append(args, f.BySPIFFEID)
	}
	if f.ByParentID != "" {
		terms, args = append(terms, "e.parent_id = ?"), append(args, f.ByParentID)
	}
	if f.BySelectors != nil && len(f.BySelectors.Selectors) > 0 {
		if err := validSelectors(f.BySelectors.Selectors); err != nil {
			return nil, nil, fmt.Errorf("filter by selectors: %w", err)
		}
		term, a, err := setFilter("e", "entry_selectors", "entry_id", []string{"type", "value"},
			selectorTuples(f.BySelectors.Selectors), f.BySelectors.Match)
		if err != nil {
			return nil, nil, fmt.Errorf("filter by selectors: %w", err)
		}
		terms, args = append(terms, term), append(args, a...)
	}
	if f.ByFederatesWith != nil && len(f.ByFederatesWith.TrustDomains) > 0 {
		term, a, err := setFilter("e", "entry_federates_with", "entry_id", []string{"trust_domain"},
			stringTuples(f.ByFederatesWith.TrustDomains), f.ByFederatesWith.Match)
		if err != nil {
			return nil, nil, fmt.Errorf("filter by federates_with: %w", err)
		}
		terms, args = append(terms, term), append(args, a...)
	}
	if f.ByHint != nil {
		terms, args = append(terms, "e.hint = ?"), append(args, *f.ByHint)
	}
	if f.ByDownstream != nil {
		terms, args = append(terms, "e.downstream = ?"), append(args, boolInt(*f.ByDownstream))
	}
	return terms, args, nil
}

// ListEntries implements datastore.EntryStore.
func (s *Store) ListEntries(ctx context.Context, filter datastore.EntryFilter, page datastore.Page) ([]*datastore.Entry, string, error) {
	terms, args, err := entryWhere(filter)
	if err != nil {
		return nil, "", s.errorf("list entries: %w", err)
	}
	pageTerm, pageArgs, limit, err := pageQuery("e.id", page)
	if err != nil {
		return nil, "", s.errorf("list entries: %w", err)
	}
	if pageTerm != "" {
		terms, args = append(terms, pageTerm), append(args, pageArgs...)
	}
	q := `SELECT ` + entryColumns + ` FROM entries e` + whereClause(terms) + ` ORDER BY e.id LIMIT ?`
	rows, err := s.read.QueryContext(ctx, q, append(args, limit)...)
	if err != nil {
		return nil, "", s.errorf("list entries: %w", err)
	}
	defer rows.Close()
	var out []*datastore.Entry
	for rows.Next() {
		e, err := scanEntry(rows)
		if err != nil {
			return nil, "", s.errorf("list entries: %w", err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, "", s.errorf("list entries: %w", err)
	}
	out, next := nextToken(out, page, func(e *datastore.Entry) string { return e.ID })
	return out, next, nil
}

// CountEntries implements datastore.EntryStore.
func (s *Store) CountEntries(ctx context.Context, filter datastore.EntryFilter) (int, error) {
	terms, args, err := entryWhere(filter)
	if err != nil {
		return 0, s.errorf("count entries: %w", err)
	}
	var n int
	if err := s.read.QueryRowContext(ctx, `SELECT count(*) FROM entries e`+whereClause(terms), args...).Scan(&n); err != nil {
		return 0, s.errorf("count entries: %w", err)
	}
	return n, nil
}

// ListEntryEvents implements datastore.EntryStore. A limit of 0 or less means no limit.
func (s *Store) ListEntryEvents(ctx context.Context, afterID int64, limit int) ([]datastore.EntryEvent, error) {
	if limit <= 0 {
		limit = noLimit
	}
	rows, err := s.read.QueryContext(ctx,
		`SELECT id, entry_id FROM entry_events WHERE id > ? ORDER BY id LIMIT ?`, afterID, limit)
	if err != nil {
		return nil, s.errorf("list entry events: %w", err)
	}
	defer rows.Close()
	var out []datastore.EntryEvent
	for rows.Next() {
		var ev datastore.EntryEvent
		if err := rows.Scan(&ev.ID, &ev.EntryID); err != nil {
			return nil, s.errorf("list entry events: %w", err)
		}
		out = append(out, ev)
	}
	if err := rows.Err(); err != nil {
		return nil, s.errorf("list entry events: %w", err)
	}
	return out, nil
}

// PruneEntryEvents implements datastore.EntryStore.
func (s *Store) PruneEntryEvents(ctx context.Context, before time.Time) error {
	err := s.write(ctx, func(t *txn) error {
		_, err := t.ExecContext(ctx, `DELETE FROM entry_events WHERE created_at < ?`, unixNano(before))
		return err
	})
	if err != nil {
		return s.errorf("prune entry events: %w", err)
	}
	return nil
}
