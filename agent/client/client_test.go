package client

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"math/big"
	"net"
	"net/url"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/bundle/x509bundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	bundlev1 "github.com/spiffe/spire-api-sdk/proto/spire/api/server/bundle/v1"
	"github.com/spiffe/spire-api-sdk/proto/spire/api/types"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
)

var td = spiffeid.RequireTrustDomainFromString("example.org")

// namedServer answers GetBundle with its name as the trust domain, so the test sees which
// server a call reached.
type namedServer struct {
	bundlev1.UnimplementedBundleServer
	name string
}

func (s *namedServer) GetBundle(context.Context, *bundlev1.GetBundleRequest) (*types.Bundle, error) {
	return &types.Bundle{TrustDomain: s.name}, nil
}

// newCA returns a CA certificate and key for td and a server certificate it signed for
// spiffe://example.org/spire/server.
func newCA(t *testing.T) (*x509.Certificate, tls.Certificate) {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tdURL, _ := url.Parse(td.IDString())
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), URIs: []*url.URL{tdURL}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign, NotBefore: time.Now().Add(-time.Minute), NotAfter: time.Now().Add(time.Hour)}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, caKey.Public(), caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	id, _ := url.Parse(spiffeid.RequireFromPath(td, "/spire/server").String())
	leafTmpl := &x509.Certificate{SerialNumber: big.NewInt(2), URIs: []*url.URL{id}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, NotBefore: time.Now().Add(-time.Minute), NotAfter: time.Now().Add(time.Hour)}
	leafDER, err := x509.CreateCertificate(rand.Reader, leafTmpl, ca, key.Public(), caKey)
	if err != nil {
		t.Fatal(err)
	}
	return ca, tls.Certificate{Certificate: [][]byte{leafDER}, PrivateKey: key}
}

func serve(t *testing.T, name string, cert tls.Certificate) (addr string, stop func()) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := grpc.NewServer(grpc.Creds(credentials.NewTLS(&tls.Config{Certificates: []tls.Certificate{cert}})))
	bundlev1.RegisterBundleServer(s, &namedServer{name: name})
	go s.Serve(l)
	t.Cleanup(s.Stop)
	return l.Addr().String(), s.Stop
}

// closedAddr is a loopback address nobody listens on.
func closedAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// reached calls until a call succeeds or the deadline passes and returns the server's name.
func reached(t *testing.T, c *Client) string {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		b, err := c.Bundle.GetBundle(ctx, &bundlev1.GetBundleRequest{})
		cancel()
		if err == nil {
			return b.TrustDomain
		}
		if time.Now().After(deadline) {
			t.Fatalf("no server answered: %v", err)
		}
	}
}

func TestDialFailsOverBetweenServers(t *testing.T) {
	ca, cert := newCA(t)
	id := NewIdentity(td)
	id.SetBundle(x509bundle.FromX509Authorities(td, []*x509.Certificate{ca}))

	first, stopFirst := serve(t, "first", cert)
	second, _ := serve(t, "second", cert)
	c, err := Dial([]string{closedAddr(t), first, second}, id)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if got := reached(t, c); got != "first" {
		t.Fatalf("with the first address down, calls reached %q, want the next one in order (first)", got)
	}
	stopFirst()
	if got := reached(t, c); got != "second" {
		t.Fatalf("after the server in use stopped, calls reached %q, want second", got)
	}
}
