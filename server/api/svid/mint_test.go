package svid_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/bundle/jwtbundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/svid/jwtsvid"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"
	bundlev1 "github.com/spiffe/spire-api-sdk/proto/spire/api/server/bundle/v1"
	svidv1 "github.com/spiffe/spire-api-sdk/proto/spire/api/server/svid/v1"
	"github.com/spiffe/spire-api-sdk/proto/spire/api/types"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/lanyard-dev/lanyard/server/servertest"
)

// csrFor makes a CSR for a new P-256 key naming id ("" for none) and dns names.
func csrFor(t *testing.T, id string, dns ...string) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.CertificateRequest{DNSNames: dns}
	if id != "" {
		tmpl.URIs = []*url.URL{spiffeid.RequireFromString(id).URL()}
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, tmpl, key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func TestMintX509SVIDSignsTheCSRsID(t *testing.T) {
	s := servertest.Start(t)
	c := svidv1.NewSVIDClient(s.Admin)
	resp, err := c.MintX509SVID(t.Context(), &svidv1.MintX509SVIDRequest{Csr: csrFor(t, "spiffe://example.org/db", "db.example.org"), Ttl: 120})
	if err != nil {
		t.Fatal(err)
	}
	chain, err := servertest.ParseChain(resp.Svid.CertChain)
	if err != nil {
		t.Fatal(err)
	}
	id, _, err := x509svid.Verify(chain, s.Bundle(), x509svid.WithTime(s.Clock.Now()))
	if err != nil || id.String() != "spiffe://example.org/db" {
		t.Fatalf("minted SVID %v does not verify as spiffe://example.org/db: %v", id, err)
	}
	if leaf := chain[0]; leaf.NotAfter.Sub(s.Clock.Now()) != 2*time.Minute || !slices.Equal(leaf.DNSNames, []string{"db.example.org"}) {
		t.Fatalf("leaf expires %s with DNS names %v; want ttl 120s and the CSR's DNS name", leaf.NotAfter, leaf.DNSNames)
	}
	resp, err = c.MintX509SVID(t.Context(), &svidv1.MintX509SVIDRequest{Csr: csrFor(t, "spiffe://example.org/db")})
	if err != nil || resp.Svid.ExpiresAt != s.Clock.Now().Add(time.Hour).Unix() {
		t.Fatalf("mint without ttl: %v %v; want the default X.509-SVID TTL (1h)", resp, err)
	}
	for name, req := range map[string]*svidv1.MintX509SVIDRequest{
		"no CSR":              {},
		"a CSR without ID":    {Csr: csrFor(t, "")},
		"an ID elsewhere":     {Csr: csrFor(t, "spiffe://other.org/db")},
		"a negative ttl":      {Csr: csrFor(t, "spiffe://example.org/db"), Ttl: -1},
		"an invalid DNS name": {Csr: csrFor(t, "spiffe://example.org/db", "bad name")},
	} {
		if _, err := c.MintX509SVID(t.Context(), req); status.Code(err) != codes.InvalidArgument {
			t.Errorf("%s: %v; want InvalidArgument", name, err)
		}
	}
	agent := s.AttestAgent()
	if _, err := svidv1.NewSVIDClient(agent.Conn).MintX509SVID(t.Context(), &svidv1.MintX509SVIDRequest{Csr: csrFor(t, "spiffe://example.org/db")}); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("MintX509SVID from an agent: %v; want PermissionDenied", err)
	}
}

func TestMintJWTSVIDSignsAVerifiableToken(t *testing.T) {
	s := servertest.Start(t)
	c := svidv1.NewSVIDClient(s.Admin)
	resp, err := c.MintJWTSVID(t.Context(), &svidv1.MintJWTSVIDRequest{
		Id: &types.SPIFFEID{TrustDomain: "example.org", Path: "/api"}, Audience: []string{"orders", "billing"}, Ttl: 3600})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Svid.ExpiresAt != s.Clock.Now().Add(time.Hour).Unix() || resp.Svid.IssuedAt != s.Clock.Now().Unix() || resp.Svid.Id.Path != "/api" {
		t.Fatalf("JWT-SVID %v: want id /api, issued now, expiring in an hour", resp.Svid)
	}
	svid, err := jwtsvid.ParseAndValidate(resp.Svid.Token, jwtBundle(t, s), []string{"billing"})
	if err != nil || svid.ID.String() != "spiffe://example.org/api" {
		t.Fatalf("token does not validate against the bundle's JWT keys: %v %v", svid, err)
	}
	long := strings.Repeat("a", 1025)
	many := make([]string, 33)
	for i := range many {
		many[i] = "aud"
	}
	id := &types.SPIFFEID{TrustDomain: "example.org", Path: "/api"}
	for name, req := range map[string]*svidv1.MintJWTSVIDRequest{
		"no audience":          {Id: id},
		"33 audiences":         {Id: id, Audience: many},
		"an empty audience":    {Id: id, Audience: []string{""}},
		"an audience too long": {Id: id, Audience: []string{long}},
		"no ID":                {Audience: []string{"a"}},
		"an ID elsewhere":      {Id: &types.SPIFFEID{TrustDomain: "other.org", Path: "/api"}, Audience: []string{"a"}},
		"a ttl over the limit": {Id: id, Audience: []string{"a"}, Ttl: 1 << 30},
	} {
		if _, err := c.MintJWTSVID(t.Context(), req); status.Code(err) != codes.InvalidArgument {
			t.Errorf("%s: %v; want InvalidArgument", name, err)
		}
	}
}

func jwtBundle(t *testing.T, s *servertest.Server) *jwtbundle.Bundle {
	t.Helper()
	b, err := bundlev1.NewBundleClient(s.Admin).GetBundle(t.Context(), &bundlev1.GetBundleRequest{})
	if err != nil {
		t.Fatal(err)
	}
	out := jwtbundle.New(s.TrustDomain)
	for _, k := range b.JwtAuthorities {
		pub, err := x509.ParsePKIXPublicKey(k.PublicKey)
		if err != nil {
			t.Fatal(err)
		}
		out.AddJWTAuthority(k.KeyId, pub)
	}
	return out
}
