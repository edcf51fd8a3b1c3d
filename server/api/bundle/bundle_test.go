package bundle_test

import (
	"crypto/x509"
	"testing"

	bundlev1 "github.com/spiffe/spire-api-sdk/proto/spire/api/server/bundle/v1"
	"github.com/spiffe/spire-api-sdk/proto/spire/api/types"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/lanyard-dev/lanyard/server/servertest"
)

func code(s *types.Status) codes.Code { return codes.Code(s.GetCode()) }

func TestEverybodyGetsTheOwnBundle(t *testing.T) {
	s := servertest.Start(t)
	for name, conn := range map[string]*grpc.ClientConn{
		"the admin socket":      s.Admin,
		"an agent":              s.AttestAgent().Conn,
		"a caller without SVID": s.Dial(nil, nil),
	} {
		b, err := bundlev1.NewBundleClient(conn).GetBundle(t.Context(), &bundlev1.GetBundleRequest{})
		if err != nil {
			t.Fatalf("GetBundle from %s: %v", name, err)
		}
		if b.TrustDomain != "example.org" || len(b.X509Authorities) == 0 || len(b.JwtAuthorities) == 0 {
			t.Fatalf("GetBundle from %s: %v; want the trust domain's X.509 and JWT authorities", name, b)
		}
		ca, err := x509.ParseCertificate(b.X509Authorities[0].Asn1)
		if err != nil || !ca.IsCA {
			t.Fatalf("X.509 authority: %v", err)
		}
	}
	b, err := bundlev1.NewBundleClient(s.Admin).GetBundle(t.Context(), &bundlev1.GetBundleRequest{OutputMask: &types.BundleMask{JwtAuthorities: true}})
	if err != nil || len(b.X509Authorities) != 0 || len(b.JwtAuthorities) == 0 {
		t.Fatalf("GetBundle with mask jwt_authorities: %v %v", b, err)
	}
}

func TestAppendBundleAddsAuthoritiesToTheOwnBundle(t *testing.T) {
	s := servertest.Start(t)
	c := bundlev1.NewBundleClient(s.Admin)
	extra := servertest.PartnerBundle(t, "example.org", "extra-key")
	b, err := c.AppendBundle(t.Context(), &bundlev1.AppendBundleRequest{X509Authorities: extra.X509Authorities, JwtAuthorities: extra.JwtAuthorities})
	if err != nil {
		t.Fatal(err)
	}
	if !hasX509(b, extra.X509Authorities[0].Asn1) || !hasKey(b, "extra-key") {
		t.Fatalf("appended bundle %v lacks the new authorities", b)
	}
	got, err := c.GetBundle(t.Context(), &bundlev1.GetBundleRequest{})
	if err != nil || !hasX509(got, extra.X509Authorities[0].Asn1) || !hasKey(got, "extra-key") || len(got.X509Authorities) < 2 {
		t.Fatalf("bundle after append %v %v; want the CA's own and the appended authorities", got, err)
	}
	again, err := c.AppendBundle(t.Context(), &bundlev1.AppendBundleRequest{X509Authorities: extra.X509Authorities, JwtAuthorities: extra.JwtAuthorities})
	if err != nil || len(again.X509Authorities) != len(got.X509Authorities) || len(again.JwtAuthorities) != len(got.JwtAuthorities) || again.SequenceNumber != got.SequenceNumber {
		t.Fatalf("appending the same authorities again: %v %v; want the bundle unchanged", again, err)
	}
	reused := servertest.PartnerBundle(t, "example.org", "extra-key").JwtAuthorities // same key ID, another key
	for name, req := range map[string]*bundlev1.AppendBundleRequest{
		"a key ID in use for another key": {JwtAuthorities: reused},
		"nothing":                         {},
		"a broken cert":                   {X509Authorities: []*types.X509Certificate{{Asn1: []byte("x")}}},
		"a key without ID":                {JwtAuthorities: []*types.JWTKey{{PublicKey: extra.JwtAuthorities[0].PublicKey}}},
		"a key that is not":               {JwtAuthorities: []*types.JWTKey{{KeyId: "k", PublicKey: []byte("x")}}},
	} {
		if _, err := c.AppendBundle(t.Context(), req); status.Code(err) != codes.InvalidArgument {
			t.Errorf("appending %s: %v; want InvalidArgument", name, err)
		}
	}
	agent := s.AttestAgent()
	if _, err := bundlev1.NewBundleClient(agent.Conn).AppendBundle(t.Context(), &bundlev1.AppendBundleRequest{X509Authorities: extra.X509Authorities}); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("AppendBundle from an agent: %v; want PermissionDenied", err)
	}
}

// Lanyard has no downstream servers, so nobody may publish a JWT authority.
func TestPublishJWTAuthorityIsRefused(t *testing.T) {
	s := servertest.Start(t)
	key := servertest.PartnerBundle(t, "example.org", "k").JwtAuthorities[0]
	for name, conn := range map[string]*grpc.ClientConn{"the admin socket": s.Admin, "an agent": s.AttestAgent().Conn} {
		_, err := bundlev1.NewBundleClient(conn).PublishJWTAuthority(t.Context(), &bundlev1.PublishJWTAuthorityRequest{JwtAuthority: key})
		if c := status.Code(err); c != codes.PermissionDenied {
			t.Errorf("PublishJWTAuthority from %s: %v; want PermissionDenied", name, err)
		}
	}
}

func hasX509(b *types.Bundle, der []byte) bool {
	for _, a := range b.X509Authorities {
		if string(a.Asn1) == string(der) {
			return true
		}
	}
	return false
}

func hasKey(b *types.Bundle, id string) bool {
	for _, k := range b.JwtAuthorities {
		if k.KeyId == id {
			return true
		}
	}
	return false
}
