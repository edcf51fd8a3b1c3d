package server

import (
	"context"
	"encoding/pem"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	bundlev1 "github.com/spiffe/spire-api-sdk/proto/spire/api/server/bundle/v1"
	svidv1 "github.com/spiffe/spire-api-sdk/proto/spire/api/server/svid/v1"
	trustdomainv1 "github.com/spiffe/spire-api-sdk/proto/spire/api/server/trustdomain/v1"
	"github.com/spiffe/spire-api-sdk/proto/spire/api/types"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/lanyard-dev/lanyard/internal/freeport"
	"github.com/lanyard-dev/lanyard/internal/poll"
)

const bundleEndpointYAML = "federation:\n  bundle_endpoint:\n    address: 127.0.0.1\n    port: 0\n    refresh_hint: 1s\n"

func (ts *testServer) trustDomains() trustdomainv1.TrustDomainClient {
	return trustdomainv1.NewTrustDomainClient(ts.admin)
}

func (ts *testServer) ownBundle() *types.Bundle {
	ts.t.Helper()
	b, err := bundlev1.NewBundleClient(ts.admin).GetBundle(context.Background(), &bundlev1.GetBundleRequest{})
	if err != nil {
		ts.t.Fatal(err)
	}
	return b
}

func (ts *testServer) federatedBundle(td string) (*types.Bundle, error) {
	return bundlev1.NewBundleClient(ts.admin).GetFederatedBundle(context.Background(), &bundlev1.GetFederatedBundleRequest{TrustDomain: td})
}

func spiffeRelationship(partner *testServer, td string, bootstrap *types.Bundle) *types.FederationRelationship {
	return &types.FederationRelationship{
		TrustDomain:       td,
		BundleEndpointUrl: "https://" + partner.srv.BundleEndpointAddr() + "/",
		BundleEndpointProfile: &types.FederationRelationship_HttpsSpiffe{HttpsSpiffe: &types.HTTPSSPIFFEProfile{
			EndpointSpiffeId: "spiffe://" + td + "/spire/server"}},
		TrustDomainBundle: bootstrap,
	}
}

func statusCode(st *types.Status) codes.Code { return codes.Code(st.GetCode()) }

func TestFederationRelationshipsThroughTheAPI(t *testing.T) {
	b := startServer(t, newConfigFor(t, "b.test", bundleEndpointYAML))
	a := startServer(t, newConfig(t))
	ctx := context.Background()

	// Bootstrap with the X.509 authorities only: JWT authorities arriving prove a fetch.
	bootstrap := proto.Clone(b.ownBundle()).(*types.Bundle)
	bootstrap.JwtAuthorities = nil
	resp, err := a.trustDomains().BatchCreateFederationRelationship(ctx, &trustdomainv1.BatchCreateFederationRelationshipRequest{
		FederationRelationships: []*types.FederationRelationship{
			spiffeRelationship(b, "b.test", bootstrap),
			{TrustDomain: "c.test", BundleEndpointUrl: "http://c.test/", BundleEndpointProfile: &types.FederationRelationship_HttpsWeb{HttpsWeb: &types.HTTPSWebProfile{}}},
			{TrustDomain: testTD.Name(), BundleEndpointUrl: "https://self/", BundleEndpointProfile: &types.FederationRelationship_HttpsWeb{HttpsWeb: &types.HTTPSWebProfile{}}},
			{TrustDomain: "d.test", BundleEndpointUrl: "https://d.test/"},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	wantCodes := []codes.Code{codes.OK, codes.InvalidArgument, codes.InvalidArgument, codes.InvalidArgument}
	for i, r := range resp.Results {
		if statusCode(r.Status) != wantCodes[i] {
			t.Errorf("result %d: %v %q, want %v", i, statusCode(r.Status), r.Status.GetMessage(), wantCodes[i])
		}
	}
	for i, must := range map[int]string{1: "https://", 2: "own trust domain", 3: "profile"} {
		if !strings.Contains(resp.Results[i].Status.GetMessage(), must) {
			t.Errorf("result %d message %q does not say %q", i, resp.Results[i].Status.GetMessage(), must)
		}
	}

	t.Run("the partner's bundle is fetched from its https_spiffe endpoint", func(t *testing.T) {
		poll.Until(t, 20*time.Second, "b.test's JWT authorities fetched", func() bool {
			fb, err := a.federatedBundle("b.test")
			return err == nil && len(fb.JwtAuthorities) > 0
		})
		if _, err := a.trustDomains().RefreshBundle(ctx, &trustdomainv1.RefreshBundleRequest{TrustDomain: "b.test"}); err != nil {
			t.Fatalf("RefreshBundle: %v", err)
		}
	})

	t.Run("get and list show the relationship with its current bundle", func(t *testing.T) {
		got, err := a.trustDomains().GetFederationRelationship(ctx, &trustdomainv1.GetFederationRelationshipRequest{TrustDomain: "b.test"})
		if err != nil {
			t.Fatal(err)
		}
		if got.GetHttpsSpiffe().GetEndpointSpiffeId() != "spiffe://b.test/spire/server" || len(got.TrustDomainBundle.GetJwtAuthorities()) == 0 {
			t.Fatalf("relationship = %v", got)
		}
		list, err := a.trustDomains().ListFederationRelationships(ctx, &trustdomainv1.ListFederationRelationshipsRequest{})
		if err != nil || len(list.FederationRelationships) != 1 {
			t.Fatalf("list = %v, %v; want the one relationship", list, err)
		}
	})

	t.Run("refreshing an unknown trust domain is NotFound", func(t *testing.T) {
		_, err := a.trustDomains().RefreshBundle(ctx, &trustdomainv1.RefreshBundleRequest{TrustDomain: "nobody.test"})
		if status.Code(err) != codes.NotFound {
			t.Fatalf("error = %v, want NotFound", err)
		}
	})

	t.Run("an update to an unusable URL is refused and changes nothing", func(t *testing.T) {
		upd, err := a.trustDomains().BatchUpdateFederationRelationship(ctx, &trustdomainv1.BatchUpdateFederationRelationshipRequest{
			FederationRelationships: []*types.FederationRelationship{{TrustDomain: "b.test", BundleEndpointUrl: "ftp://b.test"}},
			InputMask:               &types.FederationRelationshipMask{BundleEndpointUrl: true},
		})
		if err != nil {
			t.Fatal(err)
		}
		if statusCode(upd.Results[0].Status) != codes.InvalidArgument {
			t.Fatalf("status = %v", upd.Results[0].Status)
		}
	})

	t.Run("an update of the URL alone keeps the profile and endpoint ID", func(t *testing.T) {
		rel := spiffeRelationship(b, "b.test", nil)
		upd, err := a.trustDomains().BatchUpdateFederationRelationship(ctx, &trustdomainv1.BatchUpdateFederationRelationshipRequest{
			FederationRelationships: []*types.FederationRelationship{{TrustDomain: "b.test", BundleEndpointUrl: rel.BundleEndpointUrl + "?v=2"}},
			InputMask:               &types.FederationRelationshipMask{BundleEndpointUrl: true},
		})
		if err != nil {
			t.Fatal(err)
		}
		got := upd.Results[0].FederationRelationship
		if statusCode(upd.Results[0].Status) != codes.OK || got.BundleEndpointUrl != rel.BundleEndpointUrl+"?v=2" ||
			got.GetHttpsSpiffe().GetEndpointSpiffeId() != "spiffe://b.test/spire/server" {
			t.Fatalf("update result %v: %v", upd.Results[0].Status, got)
		}
	})

	t.Run("deleting the relationship deletes the partner's bundle", func(t *testing.T) {
		del, err := a.trustDomains().BatchDeleteFederationRelationship(ctx, &trustdomainv1.BatchDeleteFederationRelationshipRequest{TrustDomains: []string{"b.test"}})
		if err != nil || statusCode(del.Results[0].Status) != codes.OK {
			t.Fatalf("delete: %v %v", del, err)
		}
		if _, err := a.federatedBundle("b.test"); status.Code(err) != codes.NotFound {
			t.Fatalf("federated bundle after delete: %v, want NotFound", err)
		}
	})
}

func TestConfiguredRelationshipsAreSeededAndProtected(t *testing.T) {
	b := startServer(t, newConfigFor(t, "b.test", bundleEndpointYAML))
	bundlePath := filepath.Join(t.TempDir(), "b.pem")
	var pemDoc strings.Builder
	for _, c := range b.bundle().X509Authorities() {
		pemDoc.WriteString(string(encodePEM(c.Raw)))
	}
	if err := os.WriteFile(bundlePath, []byte(pemDoc.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	a := startServer(t, newConfigFor(t, testTD.Name(), "federation:\n  federates_with:\n    b.test:\n"+
		"      bundle_endpoint_url: https://"+b.srv.BundleEndpointAddr()+"/\n      profile: https_spiffe\n"+
		"      endpoint_spiffe_id: spiffe://b.test/spire/server\n      trust_bundle_path: "+bundlePath+"\n"))

	poll.Until(t, 20*time.Second, "b.test's bundle fetched with the bootstrap bundle", func() bool {
		fb, err := a.federatedBundle("b.test")
		return err == nil && len(fb.JwtAuthorities) > 0
	})
	del, err := a.trustDomains().BatchDeleteFederationRelationship(context.Background(), &trustdomainv1.BatchDeleteFederationRelationshipRequest{TrustDomains: []string{"b.test"}})
	if err != nil {
		t.Fatal(err)
	}
	if st := del.Results[0].Status; statusCode(st) != codes.FailedPrecondition || !strings.Contains(st.Message, "federation.federates_with.b.test") {
		t.Fatalf("deleting a configured relationship: %v, want FailedPrecondition naming the config key", st)
	}
}

func TestOIDCDiscoveryIssuerIsTheJWTIssuer(t *testing.T) {
	port := strconv.Itoa(freeport.Loopback(t))
	issuer := "http://127.0.0.1:" + port
	s := startServer(t, newConfigFor(t, testTD.Name(), "oidc:\n  address: 127.0.0.1:"+port+"\n"))
	if s.cfg.JWTIssuer != issuer {
		t.Fatalf("jwt_issuer = %q, want the OIDC issuer %q", s.cfg.JWTIssuer, issuer)
	}
	ctx := context.Background()
	minted, err := svidv1.NewSVIDClient(s.admin).MintJWTSVID(ctx, &svidv1.MintJWTSVIDRequest{
		Id: &types.SPIFFEID{TrustDomain: testTD.Name(), Path: "/web"}, Audience: []string{"cloud"}})
	if err != nil {
		t.Fatal(err)
	}
	provider, err := oidc.NewProvider(ctx, issuer)
	if err != nil {
		t.Fatalf("OIDC discovery at %s: %v", issuer, err)
	}
	tok, err := provider.Verifier(&oidc.Config{ClientID: "cloud"}).Verify(ctx, minted.Svid.Token)
	if err != nil {
		t.Fatalf("a relying party rejected the JWT-SVID: %v", err)
	}
	if tok.Subject != "spiffe://example.org/web" {
		t.Fatalf("subject = %q", tok.Subject)
	}
}

func encodePEM(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}
