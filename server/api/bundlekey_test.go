package api

import (
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/spiffe/spire-api-sdk/proto/spire/api/types"

	"github.com/lanyard-dev/lanyard/internal/testca"
)

// oddKeys returns PKIX DER of keys x509 parses but a JWKS cannot hold.
func oddKeys(t testing.TB) map[string]any {
	t.Helper()
	x, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	p224, err := ecdsa.GenerateKey(elliptic.P224(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return map[string]any{"X25519": x.PublicKey(), "P-224": p224.Public()}
}

// certWithKey issues a CA certificate for pub, signed by a P-256 CA.
func certWithKey(t testing.TB, pub any) []byte {
	t.Helper()
	ca, caKey := testca.New(t, "issuer", nil, nil, time.Now().Add(time.Hour))
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "odd key"},
		NotBefore: time.Now().Add(-time.Minute), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, pub, caKey)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func TestBundleFromProtoRefusesWhatABundleDocumentCannotCarry(t *testing.T) {
	for name, pub := range oddKeys(t) {
		der, err := x509.MarshalPKIXPublicKey(pub)
		if err != nil {
			t.Fatal(err)
		}
		t.Run("a JWT authority with a "+name+" key", func(t *testing.T) {
			_, err := BundleFromProto(&types.Bundle{TrustDomain: "partner.org", JwtAuthorities: []*types.JWTKey{{KeyId: "k", PublicKey: der}}})
			if err == nil || !strings.Contains(err.Error(), "cannot be published") {
				t.Fatalf("error = %v", err)
			}
		})
		if name == "X25519" {
			continue // x509.CreateCertificate cannot issue one
		}
		t.Run("an X.509 authority with a "+name+" key", func(t *testing.T) {
			cert := certWithKey(t, pub)
			_, err := BundleFromProto(&types.Bundle{TrustDomain: "partner.org", X509Authorities: []*types.X509Certificate{{Asn1: cert}}})
			if err == nil || !strings.Contains(err.Error(), "cannot be published") {
				t.Fatalf("error = %v", err)
			}
		})
	}
	t.Run("a refresh hint that overflows a duration", func(t *testing.T) {
		_, err := BundleFromProto(&types.Bundle{TrustDomain: "partner.org", RefreshHint: 9223372037})
		if err == nil || !strings.Contains(err.Error(), "refresh_hint") {
			t.Fatalf("error = %v", err)
		}
	})
}
