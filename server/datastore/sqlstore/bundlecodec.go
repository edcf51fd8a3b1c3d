package sqlstore

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/lanyard-dev/lanyard/server/datastore"
)

// bundleFormat is the version of the JSON stored in bundles.data. Decoding refuses other
// versions rather than silently dropping fields a newer server wrote. Format 2 adds WIT
// authorities; a bundle without them is still written as format 1, so servers that predate
// WIT-SVIDs keep reading federated bundles that have none.
const (
	bundleFormat    = 2
	bundleFormatOld = 1
)

type bundleJSON struct {
	Format          int          `json:"format"`
	X509Authorities []x509JSON   `json:"x509_authorities"`
	JWTAuthorities  []jwtKeyJSON `json:"jwt_authorities"`
	WITAuthorities  []jwtKeyJSON `json:"wit_authorities,omitempty"`
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
	out := bundleJSON{Format: bundleFormatOld, RefreshHint: b.RefreshHint, SequenceNumber: b.SequenceNumber}
	for _, a := range b.X509Authorities {
		out.X509Authorities = append(out.X509Authorities, x509JSON{DER: a.DER, Tainted: a.Tainted})
	}
	out.JWTAuthorities = encodeKeys(b.JWTAuthorities)
	if len(b.WITAuthorities) > 0 {
		out.Format, out.WITAuthorities = bundleFormat, encodeKeys(b.WITAuthorities)
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
	if in.Format != bundleFormat && in.Format != bundleFormatOld {
		return nil, fmt.Errorf("decode bundle %s: stored format %d, this lanyard-server reads formats %d and %d",
			trustDomain, in.Format, bundleFormatOld, bundleFormat)
	}
	b := &datastore.Bundle{TrustDomain: trustDomain, RefreshHint: in.RefreshHint, SequenceNumber: in.SequenceNumber}
	for _, a := range in.X509Authorities {
		b.X509Authorities = append(b.X509Authorities, datastore.X509Authority{DER: a.DER, Tainted: a.Tainted})
	}
	b.JWTAuthorities = decodeKeys(in.JWTAuthorities)
	b.WITAuthorities = decodeKeys(in.WITAuthorities)
	return b, nil
}

func encodeKeys(keys []datastore.JWTKey) []jwtKeyJSON {
	var out []jwtKeyJSON
	for _, k := range keys {
		out = append(out, jwtKeyJSON{KeyID: k.KeyID, PublicKey: k.PublicKey, ExpiresAt: k.ExpiresAt, Tainted: k.Tainted})
	}
	return out
}

func decodeKeys(keys []jwtKeyJSON) []datastore.JWTKey {
	var out []datastore.JWTKey
	for _, k := range keys {
		out = append(out, datastore.JWTKey{KeyID: k.KeyID, PublicKey: k.PublicKey, ExpiresAt: k.ExpiresAt, Tainted: k.Tainted})
	}
	return out
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
	var keysChanged bool
	if dst.JWTAuthorities, keysChanged, err = appendKeys(dst.TrustDomain, "jwt", dst.JWTAuthorities, src.JWTAuthorities); err != nil {
		return false, err
	}
	changed = changed || keysChanged
	if dst.WITAuthorities, keysChanged, err = appendKeys(dst.TrustDomain, "wit", dst.WITAuthorities, src.WITAuthorities); err != nil {
		return false, err
	}
	return changed || keysChanged, nil
}

// appendKeys appends copies of the keys of src whose key ID dst lacks; kind names them in
// errors.
func appendKeys(td, kind string, dst, src []datastore.JWTKey) ([]datastore.JWTKey, bool, error) {
	changed := false
	for i, k := range src {
		if k.KeyID == "" {
			return dst, false, fmt.Errorf("bundle %s: %s authority %d has an empty key ID", td, kind, i)
		}
		if len(k.PublicKey) == 0 {
			return dst, false, fmt.Errorf("bundle %s: %s authority %q has no public key", td, kind, k.KeyID)
		}
		if slices.ContainsFunc(dst, func(x datastore.JWTKey) bool { return x.KeyID == k.KeyID }) {
			continue
		}
		k.PublicKey = slices.Clone(k.PublicKey)
		dst = append(dst, k)
		changed = true
	}
	return dst, changed, nil
}
