package sqlstore

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"

	"github.com/lanyard-dev/lanyard/server/datastore"
)

var _ datastore.FederationStore = (*Store)(nil)

const relationshipColumns = `trust_domain, bundle_endpoint_url, profile, endpoint_spiffe_id, created_at, updated_at`

func scanRelationship(row interface{ Scan(...any) error }) (*datastore.FederationRelationship, error) {
	var r datastore.FederationRelationship
	var profile string
	if err := row.Scan(&r.TrustDomain, &r.BundleEndpointURL, &profile, &r.EndpointSPIFFEID, &r.CreatedAt, &r.UpdatedAt); err != nil {
		return nil, err
	}
	r.Profile = datastore.EndpointProfile(profile)
	return &r, nil
}

func getRelationship(ctx context.Context, q querier, trustDomain string) (*datastore.FederationRelationship, error) {
	r, err := scanRelationship(q.QueryRowContext(ctx,
		`SELECT `+relationshipColumns+` FROM federation_relationships WHERE trust_domain = ?`, trustDomain))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("no federation relationship with %q: %w", trustDomain, datastore.ErrNotFound)
	}
	return r, err
}

func checkRelationship(r *datastore.FederationRelationship) error {
	if r == nil || r.TrustDomain == "" {
		return errors.New("relationship trust domain is empty")
	}
	if r.BundleEndpointURL == "" {
		return fmt.Errorf("relationship with %s: bundle endpoint URL is empty", r.TrustDomain)
	}
	switch r.Profile {
	case datastore.ProfileHTTPSWeb:
	case datastore.ProfileHTTPSSPIFFE:
		if r.EndpointSPIFFEID == "" {
			return fmt.Errorf("relationship with %s: https_spiffe needs an endpoint SPIFFE ID", r.TrustDomain)
		}
	default:
		return fmt.Errorf("relationship with %s: unknown profile %q", r.TrustDomain, r.Profile)
	}
	return nil
}

// CreateFederationRelationship implements datastore.FederationStore.
func (s *Store) CreateFederationRelationship(ctx context.Context, r *datastore.FederationRelationship, b *datastore.Bundle) (*datastore.FederationRelationship, error) {
	if err := checkRelationship(r); err != nil {
		return nil, s.errorf("create federation relationship: %w", err)
	}
	nb, err := optionalBundle(r.TrustDomain, b)
	if err != nil {
		return nil, s.errorf("create federation relationship: %w", err)
	}
	out := *r
	out.CreatedAt = s.now().Unix()
	out.UpdatedAt = out.CreatedAt
	if out.Profile == datastore.ProfileHTTPSWeb {
		out.EndpointSPIFFEID = ""
	}
	err = s.write(ctx, func(t *txn) error {
		res, err := t.ExecContext(ctx, `INSERT INTO federation_relationships (`+relationshipColumns+`)
			VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (trust_domain) DO NOTHING`,
			out.TrustDomain, out.BundleEndpointURL, string(out.Profile), out.EndpointSPIFFEID, out.CreatedAt, out.UpdatedAt)
		if err != nil {
			return err
		}
		if ok, err := changedOne(res); err != nil {
			return err
		} else if !ok {
			return fmt.Errorf("a federation relationship with %q already exists: %w", out.TrustDomain, datastore.ErrAlreadyExists)
		}
		if nb != nil {
			_, err = replaceBundle(ctx, t, nb)
		}
		return err
	})
	if err != nil {
		return nil, s.errorf("create federation relationship: %w", err)
	}
	return &out, nil
}

// UpdateFederationRelationship implements datastore.FederationStore.
func (s *Store) UpdateFederationRelationship(ctx context.Context, r *datastore.FederationRelationship, mask datastore.FederationRelationshipMask, b *datastore.Bundle) (*datastore.FederationRelationship, error) {
	if r == nil || r.TrustDomain == "" {
		return nil, s.errorf("update federation relationship: trust domain is empty")
	}
	nb, err := optionalBundle(r.TrustDomain, b)
	if err != nil {
		return nil, s.errorf("update federation relationship: %w", err)
	}
	var out *datastore.FederationRelationship
	err = s.write(ctx, func(t *txn) error {
		cur, err := getRelationship(ctx, t, r.TrustDomain)
		if err != nil {
			return err
		}
		if mask.BundleEndpointURL {
			cur.BundleEndpointURL = r.BundleEndpointURL
		}
		if mask.Profile {
			cur.Profile, cur.EndpointSPIFFEID = r.Profile, r.EndpointSPIFFEID
			if cur.Profile == datastore.ProfileHTTPSWeb {
				cur.EndpointSPIFFEID = ""
			}
		}
		if err := checkRelationship(cur); err != nil {
			return err
		}
		cur.UpdatedAt = s.now().Unix()
		if _, err := t.ExecContext(ctx, `UPDATE federation_relationships SET bundle_endpoint_url = ?, profile = ?,
			endpoint_spiffe_id = ?, updated_at = ? WHERE trust_domain = ?`,
			cur.BundleEndpointURL, string(cur.Profile), cur.EndpointSPIFFEID, cur.UpdatedAt, cur.TrustDomain); err != nil {
			return err
		}
		if nb != nil {
			if _, err := replaceBundle(ctx, t, nb); err != nil {
				return err
			}
		}
		out = cur
		return nil
	})
	if err != nil {
		return nil, s.errorf("update federation relationship: %w", err)
	}
	return out, nil
}

// GetFederationRelationship implements datastore.FederationStore.
func (s *Store) GetFederationRelationship(ctx context.Context, trustDomain string) (*datastore.FederationRelationship, error) {
	r, err := getRelationship(ctx, s.read, trustDomain)
	if err != nil {
		return nil, s.errorf("get federation relationship: %w", err)
	}
	return r, nil
}

// ListFederationRelationships implements datastore.FederationStore.
func (s *Store) ListFederationRelationships(ctx context.Context, page datastore.Page) ([]*datastore.FederationRelationship, string, error) {
	term, args, limit, err := pageQuery("trust_domain", page)
	if err != nil {
		return nil, "", s.errorf("list federation relationships: %w", err)
	}
	var terms []string
	if term != "" {
		terms = append(terms, term)
	}
	rows, err := s.read.QueryContext(ctx, `SELECT `+relationshipColumns+` FROM federation_relationships`+
		whereClause(terms)+` ORDER BY trust_domain LIMIT ?`, append(args, limit)...)
	if err != nil {
		return nil, "", s.errorf("list federation relationships: %w", err)
	}
	defer rows.Close()
	var out []*datastore.FederationRelationship
	for rows.Next() {
		r, err := scanRelationship(rows)
		if err != nil {
			return nil, "", s.errorf("list federation relationships: %w", err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, "", s.errorf("list federation relationships: %w", err)
	}
	out, next := nextToken(out, page, func(r *datastore.FederationRelationship) string { return r.TrustDomain })
	return out, next, nil
}

// DeleteFederationRelationship implements datastore.FederationStore.
func (s *Store) DeleteFederationRelationship(ctx context.Context, trustDomain string) error {
	err := s.write(ctx, func(t *txn) error {
		res, err := t.ExecContext(ctx, `DELETE FROM federation_relationships WHERE trust_domain = ?`, trustDomain)
		if err != nil {
			return err
		}
		if ok, err := changedOne(res); err != nil {
			return err
		} else if !ok {
			return fmt.Errorf("no federation relationship with %q: %w", trustDomain, datastore.ErrNotFound)
		}
		return deleteBundle(ctx, t, trustDomain)
	})
	if err != nil {
		return s.errorf("delete federation relationship: %w", err)
	}
	return nil
}

// StoreFetchedBundle implements datastore.FederationStore.
func (s *Store) StoreFetchedBundle(ctx context.Context, b *datastore.Bundle) (bool, error) {
	nb, err := normalBundle(b)
	if err != nil {
		return false, s.errorf("store fetched bundle: %w", err)
	}
	var changed bool
	err = s.write(ctx, func(t *txn) error {
		if _, err := getRelationship(ctx, t, nb.TrustDomain); err != nil {
			return err
		}
		changed, err = replaceBundle(ctx, t, nb)
		return err
	})
	if err != nil {
		return false, s.errorf("store fetched bundle for %q: %w", nb.TrustDomain, err)
	}
	return changed, nil
}

// replaceBundle stores nb unless the stored bundle has the same content; a replaced
// bundle's sequence number moves forward so that everyone comparing sequence numbers
// notices the change.
func replaceBundle(ctx context.Context, q querier, nb *datastore.Bundle) (bool, error) {
	cur, err := getBundle(ctx, q, nb.TrustDomain)
	switch {
	case errors.Is(err, datastore.ErrNotFound):
	case err != nil:
		return false, err
	case sameBundleContent(cur, nb):
		return false, nil
	default:
		nb.SequenceNumber = max(nb.SequenceNumber, cur.SequenceNumber+1)
	}
	return true, putBundle(ctx, q, nb)
}

func sameBundleContent(a, b *datastore.Bundle) bool {
	return a.RefreshHint == b.RefreshHint &&
		slices.EqualFunc(a.X509Authorities, b.X509Authorities, func(x, y datastore.X509Authority) bool {
			return x.Tainted == y.Tainted && bytes.Equal(x.DER, y.DER)
		}) &&
		slices.EqualFunc(a.JWTAuthorities, b.JWTAuthorities, func(x, y datastore.JWTKey) bool {
			return x.KeyID == y.KeyID && x.ExpiresAt == y.ExpiresAt && x.Tainted == y.Tainted && bytes.Equal(x.PublicKey, y.PublicKey)
		})
}

// optionalBundle validates a bundle given with a relationship; it must be for the
// relationship's trust domain.
func optionalBundle(trustDomain string, b *datastore.Bundle) (*datastore.Bundle, error) {
	if b == nil {
		return nil, nil
	}
	nb, err := normalBundle(b)
	if err != nil {
		return nil, err
	}
	if nb.TrustDomain != trustDomain {
		return nil, fmt.Errorf("bundle is for %q, not for the relationship's trust domain %q", nb.TrustDomain, trustDomain)
	}
	return nb, nil
}
