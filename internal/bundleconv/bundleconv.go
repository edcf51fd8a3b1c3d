// Package bundleconv converts trust bundles between spire-api-sdk's wire form and
// go-spiffe's, and to PEM: what the server, its CLI and the agent all need, kept in one
// place that links nothing of the server.
package bundleconv

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"time"

	"github.com/spiffe/go-spiffe/v2/bundle/spiffebundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/spire-api-sdk/proto/spire/api/types"
)

// ToSPIFFE converts an API bundle to go-spiffe's, the SPIFFE bundle (JWKS) form that
// bundle endpoints serve and bundle files hold. Taint flags and JWT key expiries have no
// place in that form and are dropped.
func ToSPIFFE(b *types.Bundle) (*spiffebundle.Bundle, error) {
	td, err := spiffeid.TrustDomainFromString(b.TrustDomain)
	if err != nil {
		return nil, fmt.Errorf("trust domain %q: %w", b.TrustDomain, err)
	}
	sb := spiffebundle.New(td)
	for i, a := range b.X509Authorities {
		cert, err := x509.ParseCertificate(a.Asn1)
		if err != nil {
			return nil, fmt.Errorf("X.509 authority %d: %w", i+1, err)
		}
		sb.AddX509Authority(cert)
	}
	for _, k := range b.JwtAuthorities {
		key, err := x509.ParsePKIXPublicKey(k.PublicKey)
		if err != nil {
			return nil, fmt.Errorf("JWT authority %q: %w", k.KeyId, err)
		}
		if err := sb.AddJWTAuthority(k.KeyId, key); err != nil {
			return nil, fmt.Errorf("JWT authority %q: %w", k.KeyId, err)
		}
	}
	for _, k := range b.WitAuthorities {
		key, err := x509.ParsePKIXPublicKey(k.PublicKey)
		if err != nil {
			return nil, fmt.Errorf("WIT authority %q: %w", k.KeyId, err)
		}
		if err := sb.AddWITAuthority(k.KeyId, key); err != nil {
			return nil, fmt.Errorf("WIT authority %q: %w", k.KeyId, err)
		}
	}
	if b.RefreshHint > maxRefreshHint {
		// Multiplied into a time.Duration it would wrap, to a negative hint or a tiny one.
		return nil, fmt.Errorf("refresh hint %d s is longer than %d s", b.RefreshHint, maxRefreshHint)
	}
	if b.RefreshHint > 0 {
		sb.SetRefreshHint(time.Duration(b.RefreshHint) * time.Second)
	}
	sb.SetSequenceNumber(b.SequenceNumber)
	return sb, nil
}

// maxRefreshHint is the longest refresh hint, in seconds, a time.Duration holds.
const maxRefreshHint = int64(1<<63-1) / int64(time.Second)

// FromSPIFFE converts a go-spiffe bundle to the API form.
func FromSPIFFE(sb *spiffebundle.Bundle) (*types.Bundle, error) {
	out := &types.Bundle{TrustDomain: sb.TrustDomain().Name()}
	for _, cert := range sb.X509Authorities() {
		out.X509Authorities = append(out.X509Authorities, &types.X509Certificate{Asn1: cert.Raw})
	}
	for keyID, key := range sb.JWTAuthorities() {
		der, err := x509.MarshalPKIXPublicKey(key)
		if err != nil {
			return nil, fmt.Errorf("JWT authority %q: %w", keyID, err)
		}
		out.JwtAuthorities = append(out.JwtAuthorities, &types.JWTKey{KeyId: keyID, PublicKey: der})
	}
	for keyID, key := range sb.WITAuthorities() {
		der, err := x509.MarshalPKIXPublicKey(key)
		if err != nil {
			return nil, fmt.Errorf("WIT authority %q: %w", keyID, err)
		}
		out.WitAuthorities = append(out.WitAuthorities, &types.WITKey{KeyId: keyID, PublicKey: der})
	}
	if hint, ok := sb.RefreshHint(); ok {
		out.RefreshHint = int64(hint / time.Second)
	}
	if seq, ok := sb.SequenceNumber(); ok {
		out.SequenceNumber = seq
	}
	return out, nil
}

// X509PEM returns the bundle's X.509 authorities as PEM certificates (what
// trust_bundle_path files, ConfigMaps and `bundle show` hold).
func X509PEM(b *types.Bundle) []byte {
	var buf bytes.Buffer
	for _, a := range b.X509Authorities {
		_ = pem.Encode(&buf, &pem.Block{Type: "CERTIFICATE", Bytes: a.Asn1}) // writing to a bytes.Buffer cannot fail
	}
	return buf.Bytes()
}
