package ca

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/bundle/jwtbundle"
	"github.com/spiffe/go-spiffe/v2/bundle/x509bundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/svid/jwtsvid"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"
	testingclock "k8s.io/utils/clock/testing"

	"github.com/lanyard-dev/lanyard/server/datastore"
	"github.com/lanyard-dev/lanyard/server/datastore/sqlite"
	"github.com/lanyard-dev/lanyard/server/keymanager"
)

var td = spiffeid.RequireTrustDomainFromString("example.org")

type fixture struct {
	t     *testing.T
	clock *testingclock.FakeClock
	store *sqlite.Store
	km    keymanager.KeyManager
	dir   string
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	dir := t.TempDir()
	store, err := sqlite.Open(context.Background(), filepath.Join(dir, "ds.sqlite3"), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	km, err := keymanager.NewDisk(filepath.Join(dir, "keys"))
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{t: t, clock: testingclock.NewFakeClock(time.Now().Truncate(time.Second)), store: store, km: km, dir: dir}
}

func (f *fixture) newCA(mut ...func(*Config)) *CA {
	f.t.Helper()
	cfg := Config{TrustDomain: td, ServerID: "s1", KeyManager: f.km, Store: f.store, CATTL: 6 * time.Hour,
		JWTIssuer: "https://oidc.example.org", Clock: f.clock}
	for _, m := range mut {
		m(&cfg)
	}
	c, err := New(context.Background(), cfg)
	if err != nil {
		f.t.Fatal(err)
	}
	return c
}

func (f *fixture) bundle() *datastore.Bundle {
	f.t.Helper()
	b, err := f.store.GetBundle(context.Background(), td.Name())
	if err != nil {
		f.t.Fatal(err)
	}
	return b
}

func (f *fixture) x509Bundle() *x509bundle.Bundle {
	var certs []*x509.Certificate
	for _, a := range f.bundle().X509Authorities {
		c, err := x509.ParseCertificate(a.DER)
		if err != nil {
			f.t.Fatal(err)
		}
		certs = append(certs, c)
	}
	return x509bundle.FromX509Authorities(td, certs)
}

func (f *fixture) jwtBundle() *jwtbundle.Bundle {
	b := jwtbundle.New(td)
	for _, k := range f.bundle().JWTAuthorities {
		pub, err := x509.ParsePKIXPublicKey(k.PublicKey)
		if err != nil {
			f.t.Fatal(err)
		}
		if err := b.AddJWTAuthority(k.KeyID, pub); err != nil {
			f.t.Fatal(err)
		}
	}
	return b
}

func (f *fixture) sign(c *CA, path string, ttl time.Duration, dns ...string) []*x509.Certificate {
	f.t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	chain, err := c.SignX509SVID(context.Background(), X509SVIDParams{ID: spiffeid.RequireFromPath(td, path), PublicKey: key.Public(), TTL: ttl, DNSNames: dns})
	if err != nil {
		f.t.Fatal(err)
	}
	return chain
}

func TestX509SVIDFollowsTheSpec(t *testing.T) {
	f := newFixture(t)
	c := f.newCA()
	chain := f.sign(c, "/web", time.Hour, "web.example.org", "web")
	leaf := chain[0]
	checks := []struct {
		name string
		ok   bool
	}{
		{"exactly one URI SAN, the SPIFFE ID", len(leaf.URIs) == 1 && leaf.URIs[0].String() == "spiffe://example.org/web"},
		{"not a CA", leaf.BasicConstraintsValid && !leaf.IsCA},
		{"digitalSignature and no certificate signing", leaf.KeyUsage&x509.KeyUsageDigitalSignature != 0 && leaf.KeyUsage&(x509.KeyUsageCertSign|x509.KeyUsageCRLSign) == 0},
		{"serverAuth and clientAuth", len(leaf.ExtKeyUsage) == 2},
		{"DNS SANs from the entry, CN the first", len(leaf.DNSNames) == 2 && leaf.Subject.CommonName == "web.example.org"},
		{"a random serial of real size", leaf.SerialNumber.BitLen() > 64},
		{"lifetime as asked", leaf.NotAfter.Equal(f.clock.Now().Add(time.Hour))},
	}
	for _, ck := range checks {
		if !ck.ok {
			t.Errorf("%s: violated by %+v", ck.name, leaf)
		}
	}
	id, _, err := x509svid.ParseAndVerify([][]byte{leaf.Raw}, f.x509Bundle(), x509svid.WithTime(f.clock.Now()))
	if err != nil {
		t.Fatalf("go-spiffe rejects the SVID: %v", err)
	}
	if id.String() != "spiffe://example.org/web" {
		t.Fatalf("verified ID = %s", id)
	}
}

func TestSVIDNeverOutlivesItsCA(t *testing.T) {
	f := newFixture(t)
	c := f.newCA()
	leaf := f.sign(c, "/web", 100*time.Hour)[0]
	ca := c.X509Authorities()[0]
	if leaf.NotAfter.After(ca.NotAfter) {
		t.Fatalf("SVID expires %s, after its CA %s", leaf.NotAfter, ca.NotAfter)
	}
}

func TestSigningRefusesBadParams(t *testing.T) {
	f := newFixture(t)
	c := f.newCA()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	other := spiffeid.RequireFromString("spiffe://other.org/web")
	if _, err := c.SignX509SVID(context.Background(), X509SVIDParams{ID: other, PublicKey: key.Public(), TTL: time.Hour}); err == nil {
		t.Error("signed an SVID for another trust domain")
	}
	if _, err := c.SignX509SVID(context.Background(), X509SVIDParams{ID: spiffeid.RequireFromPath(td, "/x"), PublicKey: key.Public()}); err == nil {
		t.Error("signed an SVID with no TTL")
	}
	if _, _, err := c.SignJWTSVID(context.Background(), JWTSVIDParams{ID: spiffeid.RequireFromPath(td, "/x"), TTL: time.Minute}); err == nil {
		t.Error("signed a JWT-SVID without audience")
	}
}

func TestJWTSVIDValidatesWithGoSPIFFE(t *testing.T) {
	f := newFixture(t)
	c := f.newCA()
	token, exp, err := c.SignJWTSVID(context.Background(), JWTSVIDParams{ID: spiffeid.RequireFromPath(td, "/web"), Audience: []string{"aws", "vault"}, TTL: 5 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if !exp.Equal(f.clock.Now().Add(5 * time.Minute)) {
		t.Fatalf("expiry %s", exp)
	}
	svid, err := jwtsvid.ParseAndValidate(token, f.jwtBundle(), []string{"vault"})
	if err != nil {
		t.Fatalf("go-spiffe rejects the JWT-SVID: %v", err)
	}
	if svid.ID.String() != "spiffe://example.org/web" || svid.Claims["iss"] != "https://oidc.example.org" {
		t.Fatalf("claims = %v", svid.Claims)
	}
	if _, err := jwtsvid.ParseAndValidate(token, f.jwtBundle(), []string{"gcp"}); err == nil {
		t.Fatal("a JWT-SVID for aws and vault validated for gcp")
	}
}

func TestJWTSVIDAudienceIsAlwaysAnArray(t *testing.T) {
	f := newFixture(t)
	c := f.newCA()
	token, _, err := c.SignJWTSVID(context.Background(), JWTSVIDParams{ID: spiffeid.RequireFromPath(td, "/web"), Audience: []string{"sts.amazonaws.com"}, TTL: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("not a compact JWS: %q", token)
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var claims map[string]json.RawMessage
	if err := json.Unmarshal(payload, &claims); err != nil {
		t.Fatal(err)
	}
	if got := string(claims["aud"]); got != `["sts.amazonaws.com"]` {
		t.Fatalf("aud = %s, want a one-element array as SPIRE sends it", got)
	}
	if _, err := jwtsvid.ParseAndValidate(token, f.jwtBundle(), []string{"sts.amazonaws.com"}); err != nil {
		t.Fatalf("go-spiffe rejects the JWT-SVID: %v", err)
	}
}

func TestRotationPublishesBeforeUse(t *testing.T) {
	f := newFixture(t)
	c := f.newCA()
	first := c.X509Authorities()[0]
	seq := f.bundle().SequenceNumber
	oldSVID := f.sign(c, "/web", 6*time.Hour) // still valid after the rotation below

	f.clock.SetTime(f.clock.Now().Add(3 * time.Hour)) // half of 6h: prepare
	if err := c.Rotate(context.Background()); err != nil {
		t.Fatal(err)
	}
	b := f.bundle()
	if len(b.X509Authorities) != 2 || len(b.JWTAuthorities) != 2 {
		t.Fatalf("prepared keys not published: %d CAs, %d JWT keys", len(b.X509Authorities), len(b.JWTAuthorities))
	}
	if b.SequenceNumber <= seq {
		t.Fatal("bundle sequence did not increase")
	}
	seq = b.SequenceNumber
	if _, _, err := x509svid.Verify(f.sign(c, "/web", time.Minute), x509bundle.FromX509Authorities(td, []*x509.Certificate{first}), x509svid.WithTime(f.clock.Now())); err != nil {
		t.Fatal("signing switched to the prepared CA before activation")
	}
	if err := c.Rotate(context.Background()); err != nil {
		t.Fatal(err)
	}
	if f.bundle().SequenceNumber != seq {
		t.Fatal("a rotation with nothing to do changed the bundle")
	}

	f.clock.SetTime(f.clock.Now().Add(2 * time.Hour)) // 5/6 of 6h: activate
	if err := c.Rotate(context.Background()); err != nil {
		t.Fatal(err)
	}
	newSVID := f.sign(c, "/web", time.Minute)
	if newSVID[0].CheckSignatureFrom(first) == nil {
		t.Fatal("still signing with the old CA after activation")
	}
	bundle := f.x509Bundle()
	for _, chain := range [][]*x509.Certificate{oldSVID, newSVID} {
		if _, _, err := x509svid.Verify(chain, bundle, x509svid.WithTime(f.clock.Now())); err != nil {
			t.Fatalf("an unexpired SVID no longer verifies: %v", err)
		}
	}

	f.clock.SetTime(first.NotAfter.Add(time.Second)) // the old CA expired: pruned
	if err := c.Rotate(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, a := range f.bundle().X509Authorities {
		if string(a.DER) == string(first.Raw) {
			t.Fatal("expired CA still in the bundle")
		}
	}
}

func TestActiveCASurvivesRestart(t *testing.T) {
	f := newFixture(t)
	first := f.newCA().X509Authorities()[0]
	again := f.newCA().X509Authorities()[0]
	if !first.Equal(again) {
		t.Fatal("a restart with the disk key manager created a new CA")
	}
	fresh := f.newCA(func(cfg *Config) { cfg.KeyManager = keymanager.NewMemory() }).X509Authorities()
	if fresh[0].Equal(first) {
		t.Fatal("a key manager without the journal's keys reused the CA")
	}
}
