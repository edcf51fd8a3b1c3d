package sqlstore

import (
	"bytes"
	"context"
	"crypto/x509"
	"fmt"
	"slices"

	"github.com/lanyard-dev/lanyard/server/datastore"
)

// TaintX509Authority implements datastore.BundleStore.
func (s *Store) TaintX509Authority(ctx context.Context, trustDomain string, subjectKeyID []byte) (*datastore.Bundle, error) {
	return s.changeAuthority(ctx, "taint X.509 authority", trustDomain, func(b *datastore.Bundle) error {
		i, err := x509Index(b, subjectKeyID)
		if err != nil {
			return err
		}
		if b.X509Authorities[i].Tainted {
			return fmt.Errorf("X.509 authority %x is already tainted: %w", subjectKeyID, datastore.ErrConflict)
		}
		b.X509Authorities[i].Tainted = true
		return nil
	})
}

// RevokeX509Authority implements datastore.BundleStore.
func (s *Store) RevokeX509Authority(ctx context.Context, trustDomain string, subjectKeyID []byte) (*datastore.Bundle, error) {
	return s.changeAuthority(ctx, "revoke X.509 authority", trustDomain, func(b *datastore.Bundle) error {
		i, err := x509Index(b, subjectKeyID)
		if err != nil {
			return err
		}
		if !b.X509Authorities[i].Tainted {
			return fmt.Errorf("X.509 authority %x is not tainted; taint it first: %w", subjectKeyID, datastore.ErrConflict)
		}
		b.X509Authorities = slices.Delete(b.X509Authorities, i, i+1)
		return nil
	})
}

// TaintJWTKey implements datastore.BundleStore.
func (s *Store) TaintJWTKey(ctx context.Context, trustDomain, keyID string) (*datastore.Bundle, error) {
	return s.changeAuthority(ctx, "taint JWT authority", trustDomain, func(b *datastore.Bundle) error {
		i, err := jwtIndex(b, keyID)
		if err != nil {
			return err
		}
		if b.JWTAuthorities[i].Tainted {
			return fmt.Errorf("JWT authority %q is already tainted: %w", keyID, datastore.ErrConflict)
		}
		b.JWTAuthorities[i].Tainted = true
		return nil
	})
}

// RevokeJWTKey implements datastore.BundleStore.
func (s *Store) RevokeJWTKey(ctx context.Context, trustDomain, keyID string) (*datastore.Bundle, error) {
	return s.changeAuthority(ctx, "revoke JWT authority", trustDomain, func(b *datastore.Bundle) error {
		i, err := jwtIndex(b, keyID)
		if err != nil {
			return err
		}
		if !b.JWTAuthorities[i].Tainted {
			return fmt.Errorf("JWT authority %q is not tainted; taint it first: %w", keyID, datastore.ErrConflict)
		}
		b.JWTAuthorities = slices.Delete(b.JWTAuthorities, i, i+1)
		return nil
	})
}

// changeAuthority applies change to the stored bundle in one transaction and counts it
// as a new sequence number.
func (s *Store) changeAuthority(ctx context.Context, what, trustDomain string, change func(*datastore.Bundle) error) (*datastore.Bundle, error) {
	var out *datastore.Bundle
	err := s.write(ctx, func(t *txn) error {
		b, err := getBundle(ctx, t, trustDomain)
		if err != nil {
			return err
		}
		if err := change(b); err != nil {
			return err
		}
		b.SequenceNumber++
		out = b
		return putBundle(ctx, t, b)
	})
	if err != nil {
		return nil, s.errorf("%s: %w", what, err)
	}
	return out, nil
}

func x509Index(b *datastore.Bundle, subjectKeyID []byte) (int, error) {
	for i, a := range b.X509Authorities {
		c, err := x509.ParseCertificate(a.DER)
		if err == nil && len(c.SubjectKeyId) > 0 && bytes.Equal(c.SubjectKeyId, subjectKeyID) {
			return i, nil
		}
	}
	return 0, fmt.Errorf("no X.509 authority with subject key ID %x in bundle %q: %w", subjectKeyID, b.TrustDomain, datastore.ErrNotFound)
}

func jwtIndex(b *datastore.Bundle, keyID string) (int, error) {
	for i, k := range b.JWTAuthorities {
		if k.KeyID == keyID {
			return i, nil
		}
	}
	return 0, fmt.Errorf("no JWT authority with key ID %q in bundle %q: %w", keyID, b.TrustDomain, datastore.ErrNotFound)
}
