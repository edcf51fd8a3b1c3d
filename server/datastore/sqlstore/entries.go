package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/lanyard-dev/lanyard/server/datastore"
)

const (
	sqlInsertEntry = `INSERT INTO entries (` + entryColumns + `)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`
	sqlFindIdentity   = `SELECT id FROM entries WHERE parent_id = ? AND spiffe_id = ? AND selectors = ? AND id <> ?`
	sqlInsertSelector = `INSERT INTO entry_selectors (entry_id, type, value) VALUES (?, ?, ?)`
	sqlInsertFederate = `INSERT INTO entry_federates_with (entry_id, trust_domain) VALUES (?, ?)`
	sqlInsertEvent    = `INSERT INTO entry_events (entry_id, created_at) VALUES (?, ?)`
)

// CreateEntries implements datastore.EntryStore.
func (s *Store) CreateEntries(ctx context.Context, entries []*datastore.Entry) ([]datastore.EntryResult, error) {
	results := make([]datastore.EntryResult, len(entries))
	err := s.write(ctx, func(t *txn) error {
		now := s.now()
		w := &entryWriter{
			selectors: newBulkInsert(t, "entry_selectors", "entry_id", "type", "value"),
			federates: newBulkInsert(t, "entry_federates_with", "entry_id", "trust_domain"),
			events:    newBulkInsert(t, "entry_events", "entry_id", "created_at"),
		}
		for i, in := range entries {
			e, err := createEntry(ctx, t, w, in, now.Unix(), now.UnixNano())
			if err := s.itemResult(results, i, "create", e, err); err != nil {
				return err
			}
		}
		return w.flush(ctx)
	})
	if err != nil {
		return nil, s.errorf("create entries: %w", err)
	}
	return results, nil
}

// itemResult records the outcome of item i of a batch (op names the operation in its
// error): an error about that entry alone (exists, not found, invalid, conflicting) goes
// into its result and the batch goes on; any other error is returned and fails the whole
// batch, which is then rolled back.
func (s *Store) itemResult(results []datastore.EntryResult, i int, op string, e *datastore.Entry, err error) error {
	switch {
	case errors.Is(err, datastore.ErrAlreadyExists), errors.Is(err, datastore.ErrNotFound), errors.Is(err, errInvalid),
		errors.Is(err, datastore.ErrConflict):
		results[i] = datastore.EntryResult{Entry: e, Err: s.errorf("%s entry %d: %w", op, i, err)}
	case err != nil:
		return err
	default:
		results[i] = datastore.EntryResult{Entry: e}
	}
	return nil
}

// entryWriter buffers the child rows and events of new entries. Nothing in a CreateEntries
// batch reads them before the end, where flush writes them all.
type entryWriter struct {
	selectors, federates, events *bulkInsert
	federation                   federationCheck
}

func (w *entryWriter) add(ctx context.Context, e *datastore.Entry, nowNano int64) error {
	for _, sel := range e.Selectors {
		if err := w.selectors.add(ctx, e.ID, sel.Type, sel.Value); err != nil {
			return err
		}
	}
	for _, td := range e.FederatesWith {
		if err := w.federates.add(ctx, e.ID, td); err != nil {
			return err
		}
	}
	return w.events.add(ctx, e.ID, nowNano)
}

func (w *entryWriter) flush(ctx context.Context) error {
	for _, b := range []*bulkInsert{w.selectors, w.federates, w.events} {
		if err := b.flush(ctx); err != nil {
			return err
		}
	}
	return nil
}

// errInvalid marks per-item validation failures, which do not abort the batch.
var errInvalid = errors.New("invalid entry")

// createEntry inserts one entry. On a duplicate it returns the existing entry and an error
// wrapping ErrAlreadyExists. The entries row is its first write and is skipped on any
// uniqueness conflict, so a refused item leaves nothing behind without needing a savepoint.
func createEntry(ctx context.Context, t *txn, w *entryWriter, in *datastore.Entry, nowSec, nowNano int64) (*datastore.Entry, error) {
	r, err := newEntryRow(in)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errInvalid, err)
	}
	e := r.e
	if err := w.federation.check(ctx, t, e.FederatesWith); err != nil {
		return nil, err
	}
	if e.ID == "" {
		e.ID = newID()
	}
	e.CreatedAt, e.RevisionNumber = nowSec, 0
	res, err := t.ExecContext(ctx, sqlInsertEntry, r.args()...)
	if err != nil {
		return nil, err
	}
	if ok, err := changedOne(res); err != nil {
		return nil, err
	} else if !ok {
		// Either the identity or the ID is taken; an identity match is the more useful answer.
		if existing, err := findIdentity(ctx, t, r, ""); err != nil {
			return existing, err
		}
		existing, err := getEntry(ctx, t, e.ID)
		if err != nil {
			return nil, err
		}
		return existing, fmt.Errorf("entry ID %q is taken: %w", e.ID, datastore.ErrAlreadyExists)
	}
	return e, w.add(ctx, e, nowNano)
}

// findIdentity returns ErrAlreadyExists and the entry, other than exceptID, with the same
// parent ID, SPIFFE ID and selector set as r.
func findIdentity(ctx context.Context, t *txn, r *entryRow, exceptID string) (*datastore.Entry, error) {
	var id string
	query := sqlFindIdentity
	if t.s.d.FindIdentity != "" {
		query = t.s.d.FindIdentity
	}
	err := t.QueryRowContext(ctx, query, r.e.ParentID, r.e.SPIFFEID, r.selectors, exceptID).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	existing, err := getEntry(ctx, t, id)
	if err != nil {
		return nil, err
	}
	return existing, fmt.Errorf("similar entry already exists (entry %s has the same SPIFFE ID, parent ID and selectors): %w",
		id, datastore.ErrAlreadyExists)
}

func insertEntryChildren(ctx context.Context, q querier, e *datastore.Entry, selectors, federates bool) error {
	if selectors {
		for _, sel := range e.Selectors {
			if _, err := q.ExecContext(ctx, sqlInsertSelector, e.ID, sel.Type, sel.Value); err != nil {
				return err
			}
		}
	}
	if federates {
		for _, td := range e.FederatesWith {
			if _, err := q.ExecContext(ctx, sqlInsertFederate, e.ID, td); err != nil {
				return err
			}
		}
	}
	return nil
}

func appendEvent(ctx context.Context, q querier, entryID string, nowNano int64) error {
	_, err := q.ExecContext(ctx, sqlInsertEvent, entryID, nowNano)
	return err
}

// UpdateEntries implements datastore.EntryStore.
func (s *Store) UpdateEntries(ctx context.Context, entries []*datastore.Entry, mask datastore.EntryMask) ([]datastore.EntryResult, error) {
	results := make([]datastore.EntryResult, len(entries))
	err := s.write(ctx, func(t *txn) error {
		nowNano := s.now().UnixNano()
		var fed federationCheck
		for i, in := range entries {
			e, err := updateEntry(ctx, t, &fed, in, mask, nowNano)
			if err := s.itemResult(results, i, "update", e, err); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, s.errorf("update entries: %w", err)
	}
	return results, nil
}

func updateEntry(ctx context.Context, t *txn, fed *federationCheck, in *datastore.Entry, mask datastore.EntryMask, nowNano int64) (*datastore.Entry, error) {
	if in == nil {
		return nil, fmt.Errorf("%w: entry is nil", errInvalid)
	}
	cur, err := getEntry(ctx, t, in.ID)
	if err != nil {
		return nil, err
	}
	r, err := newEntryRow(applyEntryMask(cur, in, mask))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errInvalid, err)
	}
	if existing, err := findIdentity(ctx, t, r, cur.ID); err != nil {
		return existing, err
	}
	feds := encodeStrings(cur.FederatesWith) != r.federates
	if feds {
		if err := fed.check(ctx, t, r.e.FederatesWith); err != nil {
			return nil, err
		}
	}
	r.e.RevisionNumber = cur.RevisionNumber + 1
	if _, err := t.ExecContext(ctx, `UPDATE entries SET (`+entryColumns+`) =
		(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) WHERE id = ?`, append(r.args(), cur.ID)...); err != nil {
		return nil, err
	}
	sels := encodeSelectors(cur.Selectors) != r.selectors
	if sels {
		if _, err := t.ExecContext(ctx, `DELETE FROM entry_selectors WHERE entry_id = ?`, cur.ID); err != nil {
			return nil, err
		}
	}
	if feds {
		if _, err := t.ExecContext(ctx, `DELETE FROM entry_federates_with WHERE entry_id = ?`, cur.ID); err != nil {
			return nil, err
		}
	}
	if err := insertEntryChildren(ctx, t, r.e, sels, feds); err != nil {
		return nil, err
	}
	return r.e, appendEvent(ctx, t, cur.ID, nowNano)
}

// applyEntryMask returns cur with the masked fields taken from in. ID, CreatedAt and
// RevisionNumber always stay the store's.
func applyEntryMask(cur, in *datastore.Entry, m datastore.EntryMask) *datastore.Entry {
	out := *cur
	if m.SPIFFEID {
		out.SPIFFEID = in.SPIFFEID
	}
	if m.ParentID {
		out.ParentID = in.ParentID
	}
	if m.Selectors {
		out.Selectors = in.Selectors
	}
	if m.X509SVIDTTL {
		out.X509SVIDTTL = in.X509SVIDTTL
	}
	if m.JWTSVIDTTL {
		out.JWTSVIDTTL = in.JWTSVIDTTL
	}
	if m.FederatesWith {
		out.FederatesWith = in.FederatesWith
	}
	if m.Admin {
		out.Admin = in.Admin
	}
	if m.Downstream {
		out.Downstream = in.Downstream
	}
	if m.ExpiresAt {
		out.ExpiresAt = in.ExpiresAt
	}
	if m.DNSNames {
		out.DNSNames = in.DNSNames
	}
	if m.StoreSVID {
		out.StoreSVID = in.StoreSVID
	}
	if m.Hint {
		out.Hint = in.Hint
	}
	return &out
}

// DeleteEntries implements datastore.EntryStore.
func (s *Store) DeleteEntries(ctx context.Context, ids []string) ([]datastore.EntryResult, error) {
	results := make([]datastore.EntryResult, len(ids))
	err := s.write(ctx, func(t *txn) error {
		nowNano := s.now().UnixNano()
		for i, id := range ids {
			e, err := deleteEntry(ctx, t, id, nowNano)
			if err := s.itemResult(results, i, "delete", e, err); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, s.errorf("delete entries: %w", err)
	}
	return results, nil
}

// deleteEntry deletes one entry (its child rows go by ON DELETE CASCADE) and records the event.
func deleteEntry(ctx context.Context, q querier, id string, nowNano int64) (*datastore.Entry, error) {
	e, err := getEntry(ctx, q, id)
	if err != nil {
		return nil, err
	}
	if _, err := q.ExecContext(ctx, `DELETE FROM entries WHERE id = ?`, id); err != nil {
		return nil, err
	}
	return e, appendEvent(ctx, q, id, nowNano)
}

// GetEntry implements datastore.EntryStore.
func (s *Store) GetEntry(ctx context.Context, id string) (*datastore.Entry, error) {
	e, err := getEntry(ctx, s.read, id)
	if err != nil {
		return nil, s.errorf("get entry: %w", err)
	}
	return e, nil
}

func getEntry(ctx context.Context, q querier, id string) (*datastore.Entry, error) {
	e, err := scanEntry(q.QueryRowContext(ctx, `SELECT `+entryColumns+` FROM entries WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("entry %q not found: %w", id, datastore.ErrNotFound)
	}
	return e, err
}
