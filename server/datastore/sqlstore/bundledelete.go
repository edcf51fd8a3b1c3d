package sqlstore

import (
	"context"
	"fmt"
	"slices"

	"github.com/lanyard-dev/lanyard/server/datastore"
)

// DeleteBundle implements datastore.BundleStore. Entries that federate with the trust domain
// are, depending on mode, a reason to refuse (ErrConflict), deleted, or changed to stop
// federating with it; either change records entry events in the same transaction.
func (s *Store) DeleteBundle(ctx context.Context, trustDomain string, mode datastore.DeleteMode) error {
	if mode < datastore.DeleteRestrict || mode > datastore.DeleteDissociate {
		return s.errorf("delete bundle %q: unknown delete mode %d: use DeleteRestrict, DeleteCascade or DeleteDissociate",
			trustDomain, mode)
	}
	err := s.write(ctx, func(t *txn) error {
		if _, err := getBundle(ctx, t, trustDomain); err != nil {
			return err
		}
		ids, err := federatingEntries(ctx, t, trustDomain)
		if err != nil {
			return err
		}
		nowNano := s.now().UnixNano()
		switch mode {
		case datastore.DeleteRestrict:
			if len(ids) > 0 {
				return fmt.Errorf("%d registration entries federate with %q (e.g. %s): update or delete them first, "+
					"or delete the bundle in cascade or dissociate mode: %w", len(ids), trustDomain, ids[0], datastore.ErrConflict)
			}
		case datastore.DeleteCascade:
			for _, id := range ids {
				if _, err := deleteEntry(ctx, t, id, nowNano); err != nil {
					return err
				}
			}
		case datastore.DeleteDissociate:
			for _, id := range ids {
				if err := dissociate(ctx, t, id, trustDomain, nowNano); err != nil {
					return err
				}
			}
		}
		return deleteBundle(ctx, t, trustDomain)
	})
	if err != nil {
		return s.errorf("delete bundle %q: %w", trustDomain, err)
	}
	return nil
}

func federatingEntries(ctx context.Context, q querier, trustDomain string) ([]string, error) {
	rows, err := q.QueryContext(ctx,
		`SELECT entry_id FROM entry_federates_with WHERE trust_domain = ? ORDER BY entry_id`, trustDomain)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

// dissociate removes trustDomain from one entry's federates_with, as an entry update would.
func dissociate(ctx context.Context, q querier, id, trustDomain string, nowNano int64) error {
	e, err := getEntry(ctx, q, id)
	if err != nil {
		return err
	}
	feds := slices.DeleteFunc(e.FederatesWith, func(td string) bool { return td == trustDomain })
	if _, err := q.ExecContext(ctx, `UPDATE entries SET federates_with = ?, revision_number = revision_number + 1
		WHERE id = ?`, encodeStrings(feds), id); err != nil {
		return err
	}
	if _, err := q.ExecContext(ctx, `DELETE FROM entry_federates_with WHERE entry_id = ? AND trust_domain = ?`,
		id, trustDomain); err != nil {
		return err
	}
	return appendEvent(ctx, q, id, nowNano)
}
