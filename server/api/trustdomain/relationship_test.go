package trustdomain_test

import (
	"slices"
	"testing"

	bundlev1 "github.com/spiffe/spire-api-sdk/proto/spire/api/server/bundle/v1"
	trustdomainv1 "github.com/spiffe/spire-api-sdk/proto/spire/api/server/trustdomain/v1"
	"github.com/spiffe/spire-api-sdk/proto/spire/api/types"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/lanyard-dev/lanyard/server/servertest"
)

func code(s *types.Status) codes.Code { return codes.Code(s.GetCode()) }

func web(td, url string) *types.FederationRelationship {
	return &types.FederationRelationship{TrustDomain: td, BundleEndpointUrl: url,
		BundleEndpointProfile: &types.FederationRelationship_HttpsWeb{HttpsWeb: &types.HTTPSWebProfile{}}}
}

func spiffe(td, url, endpointID string, bundle *types.Bundle) *types.FederationRelationship {
	return &types.FederationRelationship{TrustDomain: td, BundleEndpointUrl: url, TrustDomainBundle: bundle,
		BundleEndpointProfile: &types.FederationRelationship_HttpsSpiffe{HttpsSpiffe: &types.HTTPSSPIFFEProfile{EndpointSpiffeId: endpointID}}}
}

func TestFederationRelationshipsAreCreatedReadUpdatedAndDeleted(t *testing.T) {
	s := servertest.Start(t)
	c := trustdomainv1.NewTrustDomainClient(s.Admin)
	partnerBundle := servertest.PartnerBundle(t, "b.test", "b")
	resp, err := c.BatchCreateFederationRelationship(t.Context(), &trustdomainv1.BatchCreateFederationRelationshipRequest{
		FederationRelationships: []*types.FederationRelationship{
			web("a.test", "https://a.test/bundle"),
			spiffe("b.test", "https://b.test:8443", "spiffe://b.test/spire/server", partnerBundle),
			web("c.test", "https://c.test/bundle"),
			web("a.test", "https://a.test/other"),                                             // again
			web("example.org", "https://example.org/bundle"),                                  // our own
			web("d.test", "http://d.test/bundle"),                                             // not https
			spiffe("e.test", "https://e.test", "", nil),                                       // no endpoint ID
			spiffe("f.test", "https://f.test", "spiffe://f.test/spire/server", partnerBundle), // another's bundle
			{TrustDomain: "g.test", BundleEndpointUrl: "https://g.test"},                      // no profile
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	r := resp.Results
	for i, want := range []codes.Code{codes.OK, codes.OK, codes.OK, codes.AlreadyExists, codes.InvalidArgument, codes.InvalidArgument, codes.InvalidArgument, codes.InvalidArgument, codes.InvalidArgument} {
		if code(r[i].Status) != want || (want != codes.OK) != (r[i].FederationRelationship == nil) {
			t.Errorf("relationship %d: %v; want %s, with the relationship only when OK", i, r[i], want)
		}
	}
	if got := r[1].FederationRelationship; got.GetHttpsSpiffe().GetEndpointSpiffeId() != "spiffe://b.test/spire/server" || got.TrustDomainBundle.GetTrustDomain() != "b.test" {
		t.Fatalf("created https_spiffe relationship %v; want its endpoint ID and the bundle given", got)
	}
	// The bundle given with the relationship is the partner's federated bundle.
	if _, err := bundlev1.NewBundleClient(s.Admin).GetFederatedBundle(t.Context(), &bundlev1.GetFederatedBundleRequest{TrustDomain: "b.test"}); err != nil {
		t.Fatalf("bundle stored with the relationship: %v", err)
	}

	got, err := c.GetFederationRelationship(t.Context(), &trustdomainv1.GetFederationRelationshipRequest{TrustDomain: "a.test", OutputMask: &types.FederationRelationshipMask{BundleEndpointUrl: true}})
	if err != nil || got.BundleEndpointUrl != "https://a.test/bundle" || got.BundleEndpointProfile != nil {
		t.Fatalf("GetFederationRelationship with mask url: %v %v", got, err)
	}
	for name, tt := range map[string]struct {
		td   string
		want codes.Code
	}{"an unknown one": {"z.test", codes.NotFound}, "our own": {"example.org", codes.InvalidArgument}, "no name": {"", codes.InvalidArgument}} {
		if _, err := c.GetFederationRelationship(t.Context(), &trustdomainv1.GetFederationRelationshipRequest{TrustDomain: tt.td}); status.Code(err) != tt.want {
			t.Errorf("get %s: %v; want %s", name, err, tt.want)
		}
	}

	var listed []string
	token := ""
	for i := 0; ; i++ {
		page, err := c.ListFederationRelationships(t.Context(), &trustdomainv1.ListFederationRelationshipsRequest{PageSize: 2, PageToken: token})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range page.FederationRelationships {
			listed = append(listed, r.TrustDomain)
		}
		if token = page.NextPageToken; token == "" || i > 5 {
			break
		}
	}
	if slices.Sort(listed); !slices.Equal(listed, []string{"a.test", "b.test", "c.test"}) {
		t.Fatalf("listed %v; want the three created", listed)
	}
	for _, req := range []*trustdomainv1.ListFederationRelationshipsRequest{{PageSize: -1}, {PageSize: 1, PageToken: "a"}} {
		if _, err := c.ListFederationRelationships(t.Context(), req); status.Code(err) != codes.InvalidArgument {
			t.Errorf("page size %d, token %q: %v; want InvalidArgument", req.PageSize, req.PageToken, err)
		}
	}

	upd, err := c.BatchUpdateFederationRelationship(t.Context(), &trustdomainv1.BatchUpdateFederationRelationshipRequest{
		FederationRelationships: []*types.FederationRelationship{
			{TrustDomain: "a.test", BundleEndpointUrl: "https://a.test/moved"},
			web("z.test", "https://z.test"),
			{TrustDomain: "c.test", BundleEndpointUrl: "http://c.test/insecure"},
		},
		InputMask: &types.FederationRelationshipMask{BundleEndpointUrl: true},
	})
	if err != nil {
		t.Fatal(err)
	}
	if u := upd.Results[0]; code(u.Status) != codes.OK || u.FederationRelationship.BundleEndpointUrl != "https://a.test/moved" || u.FederationRelationship.GetHttpsWeb() == nil {
		t.Fatalf("update of the URL only: %v; want the new URL and the profile kept", u)
	}
	if code(upd.Results[1].Status) != codes.NotFound || code(upd.Results[2].Status) != codes.InvalidArgument {
		t.Fatalf("updates of an unknown relationship and to an http URL: %v, %v; want NotFound, InvalidArgument", upd.Results[1].Status, upd.Results[2].Status)
	}
	// Without a mask, every field is replaced: b.test moves to https_web.
	upd, err = c.BatchUpdateFederationRelationship(t.Context(), &trustdomainv1.BatchUpdateFederationRelationshipRequest{
		FederationRelationships: []*types.FederationRelationship{web("b.test", "https://b.test/web")}})
	if err != nil || code(upd.Results[0].Status) != codes.OK || upd.Results[0].FederationRelationship.GetHttpsWeb() == nil {
		t.Fatalf("update without mask: %v %v; want https_web", upd, err)
	}

	del, err := c.BatchDeleteFederationRelationship(t.Context(), &trustdomainv1.BatchDeleteFederationRelationshipRequest{TrustDomains: []string{"b.test", "z.test", "Bad Name"}})
	if err != nil {
		t.Fatal(err)
	}
	if r := del.Results; code(r[0].Status) != codes.OK || r[0].TrustDomain != "b.test" || code(r[1].Status) != codes.NotFound || code(r[2].Status) != codes.InvalidArgument {
		t.Fatalf("delete: %v; want OK, NotFound, InvalidArgument", r)
	}
	if _, err := c.GetFederationRelationship(t.Context(), &trustdomainv1.GetFederationRelationshipRequest{TrustDomain: "b.test"}); status.Code(err) != codes.NotFound {
		t.Fatalf("deleted relationship: %v; want NotFound", err)
	}
	if _, err := bundlev1.NewBundleClient(s.Admin).GetFederatedBundle(t.Context(), &bundlev1.GetFederatedBundleRequest{TrustDomain: "b.test"}); status.Code(err) != codes.NotFound {
		t.Fatalf("the partner's bundle after its relationship was deleted: %v; want NotFound", err)
	}
	if _, err := trustdomainv1.NewTrustDomainClient(s.AttestAgent().Conn).ListFederationRelationships(t.Context(), &trustdomainv1.ListFederationRelationshipsRequest{}); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("ListFederationRelationships from an agent: %v; want PermissionDenied", err)
	}
}

func TestRelationshipsFromTheConfigurationAreNotChangedThroughTheAPI(t *testing.T) {
	s := servertest.Start(t, servertest.WithYAML("federation:\n  federates_with:\n    managed.test:\n      bundle_endpoint_url: https://127.0.0.1:1/bundle\n      profile: https_web\n"))
	c := trustdomainv1.NewTrustDomainClient(s.Admin)
	if _, err := c.GetFederationRelationship(t.Context(), &trustdomainv1.GetFederationRelationshipRequest{TrustDomain: "managed.test"}); err != nil {
		t.Fatalf("configured relationship: %v", err)
	}
	upd, err := c.BatchUpdateFederationRelationship(t.Context(), &trustdomainv1.BatchUpdateFederationRelationshipRequest{
		FederationRelationships: []*types.FederationRelationship{web("managed.test", "https://elsewhere.test")}})
	if err != nil || code(upd.Results[0].Status) != codes.FailedPrecondition {
		t.Fatalf("updating a configured relationship: %v %v; want FailedPrecondition", upd, err)
	}
	del, err := c.BatchDeleteFederationRelationship(t.Context(), &trustdomainv1.BatchDeleteFederationRelationshipRequest{TrustDomains: []string{"managed.test"}})
	if err != nil || code(del.Results[0].Status) != codes.FailedPrecondition {
		t.Fatalf("deleting a configured relationship: %v %v; want FailedPrecondition", del, err)
	}
}
