package cache

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net/url"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/bundle/spiffebundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/lanyard-dev/lanyard/attestors"
)

var td = spiffeid.RequireTrustDomainFromString("example.org")

// testCA issues X.509-SVIDs for tests.
type testCA struct {
	cert *x509.Certificate
	key  crypto.Signer
	td   spiffeid.TrustDomain
}

func newCA(t testing.TB, trustDomain spiffeid.TrustDomain) *testCA {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
		URIs: []*url.URL{trustDomain.ID().URL()},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &testCA{cert: cert, key: key, td: trustDomain}
}

func (ca *testCA) bundle() *spiffebundle.Bundle {
	return spiffebundle.FromX509Authorities(ca.td, []*x509.Certificate{ca.cert})
}

var serial int64 = 100

func (ca *testCA) svid(t testing.TB, entryID, id string) *X509SVID {
	t.Helper()
	chain, key := ca.chain(t, id)
	s, err := NewX509SVID(entryID, spiffeid.RequireFromString(id), chain, key, "")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// chain signs a fresh key into a one-certificate chain for id.
func (ca *testCA) chain(t testing.TB, id string) ([]*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	sid := spiffeid.RequireFromString(id)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	serial++
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial), NotBefore: time.Now().Add(-time.Minute), NotAfter: time.Now().Add(time.Hour),
		URIs: []*url.URL{sid.URL()}, KeyUsage: x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, key.Public(), ca.key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return []*x509.Certificate{cert}, key
}

func sel(s string) attestors.Selector {
	typ, val, _ := cut(s)
	return attestors.Selector{Type: typ, Value: val}
}

func cut(s string) (string, string, bool) {
	for i := range s {
		if s[i] == ':' {
			return s[:i], s[i+1:], true
		}
	}
	return s, "", false
}

func sels(ss ...string) []attestors.Selector {
	out := make([]attestors.Selector, len(ss))
	for i, s := range ss {
		out[i] = sel(s)
	}
	return out
}

func entry(id, spiffeID string, selectors ...string) *Entry {
	return &Entry{ID: id, SPIFFEID: spiffeID, ParentID: "spiffe://example.org/agent", Selectors: sels(selectors...), RevisionNumber: 1}
}

func ids(u *WorkloadUpdate) []string {
	out := make([]string, len(u.Identities))
	for i, id := range u.Identities {
		out[i] = id.Entry.ID
	}
	return out
}
