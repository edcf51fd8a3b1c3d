package serversvid

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/bundle/x509bundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/lanyard-dev/lanyard/server/ca"
	"github.com/lanyard-dev/lanyard/server/datastore/sqlite"
	"github.com/lanyard-dev/lanyard/server/keymanager"
)

var testTD = spiffeid.RequireTrustDomainFromString("example.org")

// handshake runs a TLS handshake between the server config and a client presenting
// cert (none when nil) and returns the server side's verdict.
func handshake(t *testing.T, server *tls.Config, cert *tls.Certificate) error {
	t.Helper()
	c, s := net.Pipe()
	defer c.Close()
	defer s.Close()
	client := tls.Client(c, &tls.Config{
		InsecureSkipVerify: true, //nolint:gosec // the server's verdict on the client is under test
		NextProtos:         []string{"h2"},
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			if cert == nil {
				return &tls.Certificate{}, nil
			}
			return cert, nil
		},
	})
	go func() { _ = client.Handshake(); client.Close() }()
	return tls.Server(s, server).Handshake()
}

func TestClientSVIDsAreVerifiedAgainstTheBundleAtTheInjectedClocksTime(t *testing.T) {
	ctx := context.Background()
	clk := clocktesting.NewFakeClock(time.Now())
	store, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "ds.sqlite3"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	authority, err := ca.New(ctx, ca.Config{TrustDomain: testTD, ServerID: "s1", KeyManager: keymanager.NewMemory(), Store: store, Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	bundle := x509bundle.FromX509Authorities(testTD, authority.X509Authorities())
	svid, err := New(ctx, Config{ID: spiffeid.RequireFromPath(testTD, "/spire/server"), Signer: authority, TTL: time.Hour, Bundle: bundle, Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	chain, err := authority.SignX509SVID(ctx, ca.X509SVIDParams{ID: spiffeid.RequireFromPath(testTD, "/agent"), PublicKey: key.Public(), TTL: 10 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	agent := &tls.Certificate{PrivateKey: crypto.Signer(key), Leaf: chain[0]}
	for _, c := range chain {
		agent.Certificate = append(agent.Certificate, c.Raw)
	}

	if err := handshake(t, svid.TLSConfig(), nil); err != nil {
		t.Fatalf("a caller without a certificate (an agent about to attest) was refused: %v", err)
	}
	if err := handshake(t, svid.TLSConfig(), agent); err != nil {
		t.Fatalf("a valid agent SVID was refused: %v", err)
	}
	clk.Step(11 * time.Minute)
	if err := handshake(t, svid.TLSConfig(), agent); err == nil {
		t.Fatal("an agent SVID expired by the injected clock was accepted")
	}
}
