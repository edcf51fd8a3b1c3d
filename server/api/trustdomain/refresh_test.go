package trustdomain_test

import (
	"testing"

	bundlev1 "github.com/spiffe/spire-api-sdk/proto/spire/api/server/bundle/v1"
	localauthorityv1 "github.com/spiffe/spire-api-sdk/proto/spire/api/server/localauthority/v1"
	trustdomainv1 "github.com/spiffe/spire-api-sdk/proto/spire/api/server/trustdomain/v1"
	"github.com/spiffe/spire-api-sdk/proto/spire/api/types"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/lanyard-dev/lanyard/server/servertest"
)

// RefreshBundle fetches from a real partner: a second server serving its bundle endpoint.
func TestRefreshBundleFetchesThePartnersCurrentBundle(t *testing.T) {
	partner := servertest.Start(t, servertest.WithTrustDomain("partner.test"),
		servertest.WithYAML("federation:\n  bundle_endpoint:\n    address: 127.0.0.1\n    port: 0\n"))
	s := servertest.Start(t)
	own := func(srv *servertest.Server) *types.Bundle {
		b, err := bundlev1.NewBundleClient(srv.Admin).GetBundle(t.Context(), &bundlev1.GetBundleRequest{})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	c := trustdomainv1.NewTrustDomainClient(s.Admin)
	resp, err := c.BatchCreateFederationRelationship(t.Context(), &trustdomainv1.BatchCreateFederationRelationshipRequest{
		FederationRelationships: []*types.FederationRelationship{spiffe("partner.test", "https://"+partner.Server.BundleEndpointAddr(), "spiffe://partner.test/spire/server", own(partner))}})
	if err != nil || code(resp.Results[0].Status) != codes.OK {
		t.Fatalf("creating the relationship: %v %v", resp, err)
	}

	// The partner prepares a new CA; it is in the partner's bundle at once.
	prepared, err := localauthorityv1.NewLocalAuthorityClient(partner.Admin).PrepareX509Authority(t.Context(), &localauthorityv1.PrepareX509AuthorityRequest{})
	if err != nil {
		t.Fatal(err)
	}
	want := len(own(partner).X509Authorities)
	if _, err := c.RefreshBundle(t.Context(), &trustdomainv1.RefreshBundleRequest{TrustDomain: "partner.test"}); err != nil {
		t.Fatalf("RefreshBundle: %v", err)
	}
	got, err := bundlev1.NewBundleClient(s.Admin).GetFederatedBundle(t.Context(), &bundlev1.GetFederatedBundleRequest{TrustDomain: "partner.test"})
	if err != nil || len(got.X509Authorities) != want {
		t.Fatalf("partner bundle after refresh has %d X.509 authorities (%v); want %d, with the one prepared (%s)", len(got.GetX509Authorities()), err, want, prepared.PreparedAuthority.AuthorityId)
	}

	for name, tt := range map[string]struct {
		td   string
		want codes.Code
	}{
		"no relationship": {"stranger.test", codes.NotFound},
		"our own":         {"example.org", codes.InvalidArgument},
	} {
		if _, err := c.RefreshBundle(t.Context(), &trustdomainv1.RefreshBundleRequest{TrustDomain: tt.td}); status.Code(err) != tt.want {
			t.Errorf("RefreshBundle for %s: %v; want %s", name, err, tt.want)
		}
	}
	partner.Stop()
	if _, err := c.RefreshBundle(t.Context(), &trustdomainv1.RefreshBundleRequest{TrustDomain: "partner.test"}); status.Code(err) != codes.Unavailable {
		t.Fatalf("RefreshBundle with the partner down: %v; want Unavailable", err)
	}
}
