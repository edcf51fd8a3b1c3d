package sqlstore

import (
	"context"
	"crypto/x509"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/lanyard-dev/lanyard/server/datastore"
)

func getBundle(ctx context.Context, q querier, trustDomain string) (*datastore.Bundle, error) {
	var data []byte
	err := q.QueryRowContext(ctx, `SELECT data FROM bundles WHERE trust_domain = ?`, trustDomain).Scan(&data)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("bundle %q not found: %w", trustDomain, datastore.ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	return decodeBundle(trustDomain, data)
}

// putBundle inserts or replaces b.
func putBundle(ctx context.Context, q querier, b *datastore.Bundle) error {
	data, err := encodeBundle(b)
	if err != nil {
		return err
	}
	if _, err = q.ExecContext(ctx, `INSERT INTO bundles (trust_domain, data) VALUES (?, ?)
		ON CONFLICT (trust_domain) DO UPDATE SET data = excluded.data`, b.TrustDomain, data); err != nil {
		return err
	}
	return bumpBundlesRevision(ctx, q)
}

// deleteBundle deletes the bundle of trustDomain, if there is one.
func deleteBundle(ctx context.Context, q querier, trustDomain string) error {
	if _, err := q.ExecContext(ctx, `DELETE FROM bundles WHERE trust_domain = ?`, trustDomain); err != nil {
		return err
	}
	return bumpBundlesRevision(ctx, q)
}

// bumpBundlesRevision moves the revision BundlesRevision reports; every bundle write calls
// it in its transaction. Writes take turns (see write), so the revision grows in commit order.
func bumpBundlesRevision(ctx context.Context, q querier) error {
	_, err := q.ExecContext(ctx, `UPDATE bundles_revision SET revision = revision + 1 WHERE id = 1`)
	return err
}

// BundlesRevision implements datastore.BundleStore.
func (s *Store) BundlesRevision(ctx context.Context) (int64, error) {
	var rev int64
	if err := s.read.QueryRowContext(ctx, `SELECT revision FROM bundles_revision WHERE id = 1`).Scan(&rev); err != nil {
		return 0, s.errorf("read bundles revision: %w", err)
	}
	return rev, nil
}

// CreateBundle implements datastore.BundleStore. Duplicate authorities in b are dropped.
func (s *Store) CreateBundle(ctx context.Context, b *datastore.Bundle) (*datastore.Bundle, error) {
	nb, err := normalBundle(b)
	if err != nil {
		return nil, s.errorf("create bundle: %w", err)
	}
	data, err := encodeBundle(nb)
	if err != nil {
		return nil, s.errorf("create bundle: %w", err)
	}
	err = s.write(ctx, func(t *txn) error {
		res, err := t.ExecContext(ctx, `INSERT INTO bundles (trust_domain, data) VALUES (?, ?)
			ON CONFLICT (trust_domain) DO NOTHING`, nb.TrustDomain, data)
		if err != nil {
			return err
		}
		if ok, err := changedOne(res); err != nil {
			return err
		} else if !ok {
			return fmt.Errorf("bundle %q already exists: %w", nb.TrustDomain, datastore.ErrAlreadyExists)
		}
		return bumpBundlesRevision(ctx, t)
	})
	if err != nil {
		return nil, s.errorf("create bundle: %w", err)
	}
	return nb, nil
}

// UpdateBundle implements datastore.BundleStore. It stores SequenceNumber only when the mask
// says so; it does not increment it by itself.
func (s *Store) UpdateBundle(ctx context.Context, b *datastore.Bundle, mask datastore.BundleMask) (*datastore.Bundle, error) {
	in, err := normalBundle(b)
	if err != nil {
		return nil, s.errorf("update bundle: %w", err)
	}
	var out *datastore.Bundle
	err = s.write(ctx, func(t *txn) error {
		cur, err := getBundle(ctx, t, in.TrustDomain)
		if err != nil {
			return err
		}
		if mask.X509Authorities {
			cur.X509Authorities = in.X509Authorities
		}
		if mask.JWTAuthorities {
			cur.JWTAuthorities = in.JWTAuthorities
		}
		if mask.WITAuthorities {
			cur.WITAuthorities = in.WITAuthorities
		}
		if mask.RefreshHint {
			cur.RefreshHint = in.RefreshHint
		}
		if mask.SequenceNumber {
			cur.SequenceNumber = in.SequenceNumber
		}
		out = cur
		return putBundle(ctx, t, cur)
	})
	if err != nil {
		return nil, s.errorf("update bundle: %w", err)
	}
	return out, nil
}

// SetBundle implements datastore.BundleStore.
func (s *Store) SetBundle(ctx context.Context, b *datastore.Bundle) (*datastore.Bundle, error) {
	nb, err := normalBundle(b)
	if err != nil {
		return nil, s.errorf("set bundle: %w", err)
	}
	if err := s.write(ctx, func(t *txn) error { return putBundle(ctx, t, nb) }); err != nil {
		return nil, s.errorf("set bundle: %w", err)
	}
	return nb, nil
}

// AppendBundle implements datastore.BundleStore. A bundle created here starts from sequence
// number 0 and b's refresh hint; b's sequence number is ignored.
func (s *Store) AppendBundle(ctx context.Context, b *datastore.Bundle) (*datastore.Bundle, error) {
	in, err := normalBundle(b)
	if err != nil {
		return nil, s.errorf("append bundle: %w", err)
	}
	var out *datastore.Bundle
	err = s.write(ctx, func(t *txn) error {
		cur, err := getBundle(ctx, t, in.TrustDomain)
		created := errors.Is(err, datastore.ErrNotFound)
		switch {
		case created:
			cur = &datastore.Bundle{TrustDomain: in.TrustDomain, RefreshHint: in.RefreshHint}
		case err != nil:
			return err
		}
		changed, err := appendAuthorities(cur, in)
		if err != nil {
			return err
		}
		if changed {
			cur.SequenceNumber++
		}
		out = cur
		if !changed && !created {
			return nil
		}
		return putBundle(ctx, t, cur)
	})
	if err != nil {
		return nil, s.errorf("append bundle: %w", err)
	}
	return out, nil
}

// PruneBundle implements datastore.BundleStore. X.509 authorities whose certificate's NotAfter
// is before expiredBefore go, except that the one expiring last stays when all have expired.
// JWT and WIT keys go when ExpiresAt is set (non-zero) and before expiredBefore.
func (s *Store) PruneBundle(ctx context.Context, trustDomain string, expiredBefore time.Time) (bool, error) {
	var changed bool
	err := s.write(ctx, func(t *txn) error {
		b, err := getBundle(ctx, t, trustDomain)
		if err != nil {
			return err
		}
		changed = s.pruneAuthorities(b, expiredBefore)
		if !changed {
			return nil
		}
		b.SequenceNumber++
		return putBundle(ctx, t, b)
	})
	if err != nil {
		return false, s.errorf("prune bundle: %w", err)
	}
	return changed, nil
}

func (s *Store) pruneAuthorities(b *datastore.Bundle, before time.Time) bool {
	var keep []datastore.X509Authority
	var latest datastore.X509Authority
	var latestEnd time.Time
	for _, a := range b.X509Authorities {
		cert, err := x509.ParseCertificate(a.DER)
		if err != nil {
			// Without an expiry we cannot know it is safe to drop.
			s.log.Warn("bundle holds an X.509 authority that does not parse; keeping it",
				"trust_domain", b.TrustDomain, "err", err)
			keep = append(keep, a)
			continue
		}
		if cert.NotAfter.After(latestEnd) {
			latest, latestEnd = a, cert.NotAfter
		}
		if !cert.NotAfter.Before(before) {
			keep = append(keep, a)
		}
	}
	if len(keep) == 0 && len(b.X509Authorities) > 0 {
		// A bundle without X.509 authorities verifies nothing; an expired one at least keeps
		// the trust domain's identity until a fresh authority is appended.
		s.log.Warn("every X.509 authority of the bundle has expired; keeping the newest",
			"trust_domain", b.TrustDomain, "not_after", latestEnd)
		keep = []datastore.X509Authority{latest}
	}
	changed := len(keep) != len(b.X509Authorities)
	b.X509Authorities = keep

	var jwtChanged, witChanged bool
	b.JWTAuthorities, jwtChanged = pruneKeys(b.JWTAuthorities, before)
	b.WITAuthorities, witChanged = pruneKeys(b.WITAuthorities, before)
	return changed || jwtChanged || witChanged
}

// pruneKeys drops the keys whose ExpiresAt is set and before before.
func pruneKeys(keys []datastore.JWTKey, before time.Time) ([]datastore.JWTKey, bool) {
	var kept []datastore.JWTKey
	for _, k := range keys {
		if k.ExpiresAt == 0 || k.ExpiresAt >= before.Unix() {
			kept = append(kept, k)
		}
	}
	return kept, len(kept) != len(keys)
}

// GetBundle implements datastore.BundleStore.
func (s *Store) GetBundle(ctx context.Context, trustDomain string) (*datastore.Bundle, error) {
	b, err := getBundle(ctx, s.read, trustDomain)
	if err != nil {
		return nil, s.errorf("get bundle: %w", err)
	}
	return b, nil
}

// ListBundles implements datastore.BundleStore: bundles ordered by trust domain.
func (s *Store) ListBundles(ctx context.Context, page datastore.Page) ([]*datastore.Bundle, string, error) {
	term, args, limit, err := pageQuery("trust_domain", page)
	if err != nil {
		return nil, "", s.errorf("list bundles: %w", err)
	}
	var terms []string
	if term != "" {
		terms = append(terms, term)
	}
	rows, err := s.read.QueryContext(ctx, `SELECT trust_domain, data FROM bundles`+whereClause(terms)+
		` ORDER BY trust_domain LIMIT ?`, append(args, limit)...)
	if err != nil {
		return nil, "", s.errorf("list bundles: %w", err)
	}
	defer rows.Close()
	var out []*datastore.Bundle
	for rows.Next() {
		var td string
		var data []byte
		if err := rows.Scan(&td, &data); err != nil {
			return nil, "", s.errorf("list bundles: %w", err)
		}
		b, err := decodeBundle(td, data)
		if err != nil {
			return nil, "", s.errorf("list bundles: %w", err)
		}
		out = append(out, b)
	}
	if err := rows.Err(); err != nil {
		return nil, "", s.errorf("list bundles: %w", err)
	}
	out, next := nextToken(out, page, func(b *datastore.Bundle) string { return b.TrustDomain })
	return out, next, nil
}

// CountBundles implements datastore.BundleStore.
func (s *Store) CountBundles(ctx context.Context) (int, error) {
	var n int
	if err := s.read.QueryRowContext(ctx, `SELECT count(*) FROM bundles`).Scan(&n); err != nil {
		return 0, s.errorf("count bundles: %w", err)
	}
	return n, nil
}
