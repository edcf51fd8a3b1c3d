package sqlstore

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/lanyard-dev/lanyard/server/datastore"
)

// bundleFormat is the version of the JSON stored in bundles.data. Decoding refuses other
// versions rather than silently dropping fields a newer server wrote.
const bundleFormat = 1

type bundleJSON struct {
	Format          int          `json:"format"`
	X509Authorities []x509JSON   `json:"x509_authorities"`
	JWTAuthorities  []jwtKeyJSON `json:"jwt_authorities"`
	RefreshHint     int64        `json:"refresh_hint"`
	SequenceNumber  uint64       `json:"sequence_number"`
}

type x509JSON struct {
	DER     []byte `json:"der"`
	Tainted bool   `json:"tainted,omitempty"`
}

type jwtKeyJSON struct {
	KeyID     string `json:"key_id"`
	PublicKey []byte `json:"public_key"`
	ExpiresAt int64  `json:"expires_at"`
	Tainted   bool   `json:"tainted,omitempty"`
}

func encodeBundle(b *datastore.Bundle) ([]byte, error) {
	out := bundleJSON{Format: bundleFormat, RefreshHint: b.RefreshHint, SequenceNumber: b.SequenceNumber}
	for _, a := range b.X509Authorities {
		out.X509Authorities = append(out.X509Authorities, x509JSON{DER: a.DER, Tainted: a.Tainted})
	}
	for _, k := range b.JWTAuthorities {
		out.JWTAuthorities = append(out.JWTAuthorities, jwtKeyJSON{KeyID: k.KeyID, PublicKey: k.PublicKey,
			ExpiresAt: k.ExpiresAt, Tainted: k.Tainted})
	}
	data, err := json.Marshal(out)
	if err != nil {
		return nil, fmt.Errorf("encode bundle %s: %w", b.TrustDomain, err)
	}
	return data, nil
}

func decodeBundle(trustDomain string, data []byte) (*datastore.Bundle, error) {
	var in bundleJSON
	if err := json.Unmarshal(data, &in); err != nil {
		return nil, fmt.Errorf("decode bundle %s: %w", trustDomain, err)
	}
	if in.Format != bundleFormat {
		return nil, fmt.Errorf("decode bundle %s: stored format %d, this lanyard-server reads format %d",
			trustDomain, in.Format, bundleFormat)
	}
	b := &datastore.Bundle{TrustDomain: trustDomain, RefreshHint: in.RefreshHint, SequenceNumber: in.SequenceNumber}
	for _, a := range in.X509Authorities {
		b.X509Authorities = append(b.X509Authorities, datastore.X509Authority{DER: a.DER, Tainted: a.Tainted})
	}
	for _, k := range in.JWTAuthorities {
		b.JWTAuthorities = append(b.JWTAuthorities, datastore.JWTKey{KeyID: k.KeyID, PublicKey: k.PublicKey,
			ExpiresAt: k.ExpiresAt, Tainted: k.Tainted})
	}
	return b, nil
}

// normalBundle validates b and returns a deep copy without duplicate authorities: X.509
// authorities are the same when their DER is, JWT keys when their key ID is. The first
// occurrence wins.
func normalBundle(b *datastore.Bundle) (*datastore.Bundle, error) {
	if b == nil {
		return nil, fmt.Errorf("the bundle is nil")
	}
	if b.TrustDomain == "" {
		return nil, fmt.Errorf("bundle trust domain is empty")
	}
	out := &datastore.Bundle{TrustDomain: b.TrustDomain, RefreshHint: b.RefreshHint, SequenceNumber: b.SequenceNumber}
	if _, err := appendAuthorities(out, b); err != nil {
		return nil, err
	}
	return out, nil
}

// appendAuthorities appends deep copies of the authorities of src that dst lacks and reports
// whether it added any.
func appendAuthorities(dst, src *datastore.Bundle) (changed bool, err error) {
	for i, a := range src.X509Authorities {
		if len(a.DER) == 0 {
			return false, fmt.Errorf("bundle %s: x509 authority %d has no certificate", dst.TrustDomain, i)
		}
		if slices.ContainsFunc(dst.X509Authorities, func(x datastore.X509Authority) bool { return bytes.Equal(x.DER, a.DER) }) {
			continue
		}
		dst.X509Authorities = append(dst.X509Authorities, datastore.X509Authority{DER: slices.Clone(a.DER), Tainted: a.Tainted})
		changed = true
	}
	for i, k := range src.JWTAuthorities {
		if k.KeyID == "" {
			return false, fmt.Errorf("bundle %s: jwt authority %d has an empty key ID", dst.TrustDomain, i)
		}
		if len(k.PublicKey) == 0 {
			return false, fmt.Errorf("bundle %s: jwt authority %q has no public key", dst.TrustDomain, k.KeyID)
		}
		if slices.ContainsFunc(dst.JWTAuthorities, func(x datastore.JWTKey) bool { return x.KeyID == k.KeyID }) {
			continue
		}
		k.PublicKey = slices.Clone(k.PublicKey)
		dst.JWTAuthorities = append(dst.JWTAuthorities, k)
		changed = true
	}
	return changed, nil
}
