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
	return s.taintKey(ctx, "JWT", trustDomain, keyID, func(b *datastore.Bundle) *[]datastore.JWTKey { return &b.JWTAuthorities })
}

// RevokeJWTKey implements datastore.BundleStore.
func (s *Store) RevokeJWTKey(ctx context.Context, trustDomain, keyID string) (*datastore.Bundle, error) {
	return s.revokeKey(ctx, "JWT", trustDomain, keyID, func(b *datastore.Bundle) *[]datastore.JWTKey { return &b.JWTAuthorities })
}

// TaintWITKey implements datastore.BundleStore.
func (s *Store) TaintWITKey(ctx context.Context, trustDomain, keyID string) (*datastore.Bundle, error) {
	return s.taintKey(ctx, "WIT", trustDomain, keyID, func(b *datastore.Bundle) *[]datastore.JWTKey { return &b.WITAuthorities })
}

// RevokeWITKey implements datastore.BundleStore.
func (s *Store) RevokeWITKey(ctx context.Context, trustDomain, keyID string) (*datastore.Bundle, error) {
	return s.revokeKey(ctx, "WIT", trustDomain, keyID, func(b *datastore.Bundle) *[]datastore.JWTKey { return &b.WITAuthorities })
}

// taintKey marks the key with this ID among keys(b) tainted; kind names the kind of key.
func (s *Store) taintKey(ctx context.Context, kind, trustDomain, keyID string, keys func(*datastore.Bundle) *[]datastore.JWTKey) (*datastore.Bundle, error) {
	return s.changeAuthority(ctx, "taint "+kind+" authority", trustDomain, func(b *datastore.Bundle) error {
		ks := *keys(b)
		i, err := keyIndex(b.TrustDomain, kind, ks, keyID)
		if err != nil {
			return err
		}
		if ks[i].Tainted {
			return fmt.Errorf("%s authority %q is already tainted: %w", kind, keyID, datastore.ErrConflict)
		}
		ks[i].Tainted = true
		return nil
	})
}

// revokeKey removes the tainted key with this ID from keys(b).
func (s *Store) revokeKey(ctx context.Context, kind, trustDomain, keyID string, keys func(*datastore.Bundle) *[]datastore.JWTKey) (*datastore.Bundle, error) {
	return s.changeAuthority(ctx, "revoke "+kind+" authority", trustDomain, func(b *datastore.Bundle) error {
		ks := keys(b)
		i, err := keyIndex(b.TrustDomain, kind, *ks, keyID)
		if err != nil {
			return err
		}
		if !(*ks)[i].Tainted {
			return fmt.Errorf("%s authority %q is not tainted; taint it first: %w", kind, keyID, datastore.ErrConflict)
		}
		*ks = slices.Delete(*ks, i, i+1)
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

func keyIndex(trustDomain, kind string, keys []datastore.JWTKey, keyID string) (int, error) {
	for i, k := range keys {
		if k.KeyID == keyID {
			return i, nil
		}
	}
	return 0, fmt.Errorf("no %s authority with key ID %q in bundle %q: %w", kind, keyID, trustDomain, datastore.ErrNotFound)
}
