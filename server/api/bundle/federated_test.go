package bundle_test

import (
	"slices"
	"testing"

	bundlev1 "github.com/spiffe/spire-api-sdk/proto/spire/api/server/bundle/v1"
	entryv1 "github.com/spiffe/spire-api-sdk/proto/spire/api/server/entry/v1"
	"github.com/spiffe/spire-api-sdk/proto/spire/api/types"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/lanyard-dev/lanyard/server/servertest"
)

func TestBatchCreateFederatedBundleAnswersEveryItem(t *testing.T) {
	s := servertest.Start(t)
	c := bundlev1.NewBundleClient(s.Admin)
	partner := servertest.PartnerBundle(t, "partner.test", "p1")
	empty := &types.Bundle{TrustDomain: "empty.test"}
	resp, err := c.BatchCreateFederatedBundle(t.Context(), &bundlev1.BatchCreateFederatedBundleRequest{
		Bundle:     []*types.Bundle{partner, partner, servertest.PartnerBundle(t, "example.org", "own"), empty, {TrustDomain: "Not A Domain"}},
		OutputMask: &types.BundleMask{RefreshHint: true},
	})
	if err != nil {
		t.Fatal(err)
	}
	r := resp.Results
	if code(r[0].Status) != codes.OK || r[0].Bundle.TrustDomain != "partner.test" || r[0].Bundle.RefreshHint != 300 || len(r[0].Bundle.X509Authorities) != 0 {
		t.Fatalf("create: %v; want OK with the masked bundle", r[0])
	}
	for i, want := range []codes.Code{1: codes.AlreadyExists, 2: codes.InvalidArgument, 3: codes.InvalidArgument, 4: codes.InvalidArgument} {
		// spire-api-sdk: the bundle is set only when the status is OK.
		if i > 0 && (code(r[i].Status) != want || r[i].Bundle != nil) {
			t.Errorf("item %d: %v; want %s and no bundle", i, r[i], want)
		}
	}
	got, err := c.GetFederatedBundle(t.Context(), &bundlev1.GetFederatedBundleRequest{TrustDomain: "spiffe://partner.test"})
	if err != nil || !hasX509(got, partner.X509Authorities[0].Asn1) || !hasKey(got, "p1") {
		t.Fatalf("GetFederatedBundle: %v %v; want the created bundle", got, err)
	}
}

func TestFederatedBundlesAreReadByAdminsAndAgentsOnly(t *testing.T) {
	s := servertest.Start(t)
	if _, err := bundlev1.NewBundleClient(s.Admin).BatchCreateFederatedBundle(t.Context(), &bundlev1.BatchCreateFederatedBundleRequest{
		Bundle: []*types.Bundle{servertest.PartnerBundle(t, "partner.test", "p1")}}); err != nil {
		t.Fatal(err)
	}
	for name, tt := range map[string]struct {
		conn *grpc.ClientConn
		want codes.Code
	}{
		"an agent":              {s.AttestAgent().Conn, codes.OK},
		"an admin SVID":         {s.AdminPeer("/ops").Conn, codes.OK},
		"a caller without SVID": {s.Dial(nil, nil), codes.PermissionDenied},
	} {
		_, err := bundlev1.NewBundleClient(tt.conn).GetFederatedBundle(t.Context(), &bundlev1.GetFederatedBundleRequest{TrustDomain: "partner.test"})
		if status.Code(err) != tt.want {
			t.Errorf("GetFederatedBundle from %s: %v; want %s", name, err, tt.want)
		}
	}
	c := bundlev1.NewBundleClient(s.Admin)
	for name, tt := range map[string]struct {
		td   string
		want codes.Code
	}{
		"the own trust domain": {"example.org", codes.InvalidArgument},
		"no trust domain":      {"", codes.InvalidArgument},
		"an unknown one":       {"nobody.test", codes.NotFound},
	} {
		if _, err := c.GetFederatedBundle(t.Context(), &bundlev1.GetFederatedBundleRequest{TrustDomain: tt.td}); status.Code(err) != tt.want {
			t.Errorf("GetFederatedBundle for %s: %v; want %s", name, err, tt.want)
		}
	}
}

func TestListFederatedBundlesPagesWithoutTheOwn(t *testing.T) {
	s := servertest.Start(t)
	c := bundlev1.NewBundleClient(s.Admin)
	var in []*types.Bundle
	for _, td := range []string{"a.test", "b.test", "c.test", "d.test", "e.test"} {
		in = append(in, servertest.PartnerBundle(t, td, td))
	}
	if _, err := c.BatchCreateFederatedBundle(t.Context(), &bundlev1.BatchCreateFederatedBundleRequest{Bundle: in}); err != nil {
		t.Fatal(err)
	}
	var got []string
	token := ""
	for i := 0; ; i++ {
		resp, err := c.ListFederatedBundles(t.Context(), &bundlev1.ListFederatedBundlesRequest{PageSize: 2, PageToken: token, OutputMask: &types.BundleMask{}})
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range resp.Bundles {
			got = append(got, b.TrustDomain)
		}
		if token = resp.NextPageToken; token == "" || i > 10 {
			break
		}
	}
	slices.Sort(got)
	if !slices.Equal(got, []string{"a.test", "b.test", "c.test", "d.test", "e.test"}) {
		t.Fatalf("listed %v; want the five federated bundles, not the own", got)
	}
	n, err := c.CountBundles(t.Context(), &bundlev1.CountBundlesRequest{})
	if err != nil || n.Count != 6 {
		t.Fatalf("CountBundles %v %v; want 6 (the own and five federated)", n, err)
	}
	for _, req := range []*bundlev1.ListFederatedBundlesRequest{{PageSize: -1}, {PageSize: 1, PageToken: "not/base64"}} {
		if _, err := c.ListFederatedBundles(t.Context(), req); status.Code(err) != codes.InvalidArgument {
			t.Errorf("page size %d, token %q: %v; want InvalidArgument", req.PageSize, req.PageToken, err)
		}
	}
}

func TestBatchUpdateAndSetFederatedBundle(t *testing.T) {
	s := servertest.Start(t)
	c := bundlev1.NewBundleClient(s.Admin)
	old := servertest.PartnerBundle(t, "partner.test", "old")
	if _, err := c.BatchCreateFederatedBundle(t.Context(), &bundlev1.BatchCreateFederatedBundleRequest{Bundle: []*types.Bundle{old}}); err != nil {
		t.Fatal(err)
	}
	next := servertest.PartnerBundle(t, "partner.test", "new")
	next.RefreshHint = 60
	upd, err := c.BatchUpdateFederatedBundle(t.Context(), &bundlev1.BatchUpdateFederatedBundleRequest{
		Bundle:    []*types.Bundle{next, servertest.PartnerBundle(t, "nobody.test", "x")},
		InputMask: &types.BundleMask{JwtAuthorities: true},
	})
	if err != nil {
		t.Fatal(err)
	}
	if b := upd.Results[0].Bundle; code(upd.Results[0].Status) != codes.OK || !hasKey(b, "new") || hasKey(b, "old") || !hasX509(b, old.X509Authorities[0].Asn1) || b.RefreshHint != 300 {
		t.Fatalf("update of jwt_authorities only: %v; want the new key, the old X.509 authority and refresh hint", upd.Results[0])
	}
	if code(upd.Results[1].Status) != codes.NotFound || upd.Results[1].Bundle != nil {
		t.Fatalf("update of an unknown bundle: %v; want NotFound and no bundle", upd.Results[1])
	}
	upd, err = c.BatchUpdateFederatedBundle(t.Context(), &bundlev1.BatchUpdateFederatedBundleRequest{Bundle: []*types.Bundle{next}})
	if err != nil || code(upd.Results[0].Status) != codes.OK || upd.Results[0].Bundle.RefreshHint != 60 || hasX509(upd.Results[0].Bundle, old.X509Authorities[0].Asn1) {
		t.Fatalf("update without mask: %v %v; want every field replaced", upd, err)
	}

	set, err := c.BatchSetFederatedBundle(t.Context(), &bundlev1.BatchSetFederatedBundleRequest{
		Bundle: []*types.Bundle{old, servertest.PartnerBundle(t, "fresh.test", "f"), {TrustDomain: "fresh2.test"}}})
	if err != nil {
		t.Fatal(err)
	}
	if r := set.Results; code(r[0].Status) != codes.OK || !hasKey(r[0].Bundle, "old") || hasKey(r[0].Bundle, "new") || code(r[1].Status) != codes.OK || code(r[2].Status) != codes.InvalidArgument {
		t.Fatalf("set: %v; want the existing bundle replaced, the new one created, the empty one refused", r)
	}
	if _, err := c.GetFederatedBundle(t.Context(), &bundlev1.GetFederatedBundleRequest{TrustDomain: "fresh.test"}); err != nil {
		t.Fatalf("bundle created by set: %v", err)
	}
}

func TestBatchDeleteFederatedBundleModes(t *testing.T) {
	s := servertest.Start(t)
	c := bundlev1.NewBundleClient(s.Admin)
	var in []*types.Bundle
	for _, td := range []string{"restrict.test", "dissociate.test", "cascade.test"} {
		in = append(in, servertest.PartnerBundle(t, td, td))
	}
	if _, err := c.BatchCreateFederatedBundle(t.Context(), &bundlev1.BatchCreateFederatedBundleRequest{Bundle: in}); err != nil {
		t.Fatal(err)
	}
	node := s.AttestAgent().ID
	e := s.Entry("/fed", node, "unix:uid:1")
	e.FederatesWith = []string{"restrict.test", "dissociate.test"}
	gone := s.Entry("/gone", node, "unix:uid:2")
	gone.FederatesWith = []string{"cascade.test"}
	created := s.CreateEntries(e, gone)

	del := func(mode bundlev1.BatchDeleteFederatedBundleRequest_Mode, tds ...string) []*bundlev1.BatchDeleteFederatedBundleResponse_Result {
		t.Helper()
		resp, err := c.BatchDeleteFederatedBundle(t.Context(), &bundlev1.BatchDeleteFederatedBundleRequest{TrustDomains: tds, Mode: mode})
		if err != nil {
			t.Fatal(err)
		}
		return resp.Results
	}
	if r := del(bundlev1.BatchDeleteFederatedBundleRequest_RESTRICT, "restrict.test", "nobody.test", "example.org"); code(r[0].Status) != codes.FailedPrecondition ||
		code(r[1].Status) != codes.NotFound || code(r[2].Status) != codes.InvalidArgument || r[0].TrustDomain != "restrict.test" {
		t.Fatalf("restrict: %v; want FailedPrecondition for a bundle in use, NotFound for an unknown one, InvalidArgument for the own", r)
	}
	if r := del(bundlev1.BatchDeleteFederatedBundleRequest_DISSOCIATE, "dissociate.test"); code(r[0].Status) != codes.OK {
		t.Fatalf("dissociate: %v", r)
	}
	entries := entryv1.NewEntryClient(s.Admin)
	got, err := entries.GetEntry(t.Context(), &entryv1.GetEntryRequest{Id: created[0].Id})
	if err != nil || !slices.Equal(got.FederatesWith, []string{"restrict.test"}) {
		t.Fatalf("entry after dissociate: %v %v; want it to federate with restrict.test only", got, err)
	}
	if r := del(bundlev1.BatchDeleteFederatedBundleRequest_DELETE, "cascade.test"); code(r[0].Status) != codes.OK {
		t.Fatalf("delete: %v", r)
	}
	if _, err := entries.GetEntry(t.Context(), &entryv1.GetEntryRequest{Id: created[1].Id}); status.Code(err) != codes.NotFound {
		t.Fatalf("entry federating with a bundle deleted in DELETE mode: %v; want it gone (NotFound)", err)
	}
	if _, err := c.BatchDeleteFederatedBundle(t.Context(), &bundlev1.BatchDeleteFederatedBundleRequest{TrustDomains: []string{"restrict.test"}, Mode: 7}); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("unknown mode: %v; want InvalidArgument", err)
	}
}
