package entry_test

import (
	"fmt"

	"slices"
	"testing"

	"github.com/spiffe/go-spiffe/v2/spiffeid"

	bundlev1 "github.com/spiffe/spire-api-sdk/proto/spire/api/server/bundle/v1"
	entryv1 "github.com/spiffe/spire-api-sdk/proto/spire/api/server/entry/v1"
	"github.com/spiffe/spire-api-sdk/proto/spire/api/types"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/lanyard-dev/lanyard/internal/spireid"
	"github.com/lanyard-dev/lanyard/server/servertest"
)

func TestListEntriesPagesToTheEnd(t *testing.T) {
	s := servertest.Start(t)
	c := entryv1.NewEntryClient(s.Admin)
	var all []*types.Entry
	for i := range 7 {
		all = append(all, s.Entry(fmt.Sprintf("/w%d", i), node, fmt.Sprintf("unix:uid:%d", i)))
	}
	s.CreateEntries(all...)

	var seen []string
	token, pages := "", 0
	for {
		resp, err := c.ListEntries(t.Context(), &entryv1.ListEntriesRequest{PageSize: 3, PageToken: token})
		if err != nil {
			t.Fatal(err)
		}
		pages++
		if len(resp.Entries) > 3 {
			t.Fatalf("page of %d entries; page_size was 3", len(resp.Entries))
		}
		for _, e := range resp.Entries {
			seen = append(seen, e.SpiffeId.Path)
		}
		if token = resp.NextPageToken; token == "" {
			break
		}
		if pages > 10 {
			t.Fatal("paging does not end")
		}
	}
	slices.Sort(seen)
	if len(seen) != 7 || slices.Compact(slices.Clone(seen))[6] != "/w6" || pages < 3 {
		t.Fatalf("paged through %v in %d pages; want each of the 7 entries once, in at least 3 pages", seen, pages)
	}
	for name, req := range map[string]*entryv1.ListEntriesRequest{
		"a negative page size":                {PageSize: -1},
		"a page token this server never gave": {PageSize: 1, PageToken: "zzzzzzzz-zzzz"},
	} {
		if _, err := c.ListEntries(t.Context(), req); status.Code(err) != codes.InvalidArgument {
			t.Errorf("%s: %v; want InvalidArgument", name, err)
		}
	}
}

func TestListAndCountEntriesFilter(t *testing.T) {
	s := servertest.Start(t)
	if _, err := bundlev1.NewBundleClient(s.Admin).BatchCreateFederatedBundle(t.Context(), &bundlev1.BatchCreateFederatedBundleRequest{
		Bundle: []*types.Bundle{servertest.PartnerBundle(t, "partner.test", "k1"), servertest.PartnerBundle(t, "other.test", "k2")},
	}); err != nil {
		t.Fatal(err)
	}
	node2 := spiffeid.RequireFromString("spiffe://example.org/spire/agent/join_token/node2")
	other := spireid.ToProto(node2)

	ab := s.Entry("/ab", node, "unix:uid:1", "unix:gid:2")
	ab.FederatesWith, ab.Hint = []string{"partner.test"}, "front"
	a := s.Entry("/a", node, "unix:uid:1")
	a.FederatesWith = []string{"partner.test", "other.test"}
	c := s.Entry("/c", node, "k8s:ns:default")
	c.Downstream = true
	onOther := s.Entry("/a", node2, "unix:uid:1")
	s.CreateEntries(ab, a, c, onOther)

	sels := func(m types.SelectorMatch_MatchBehavior, s ...string) *types.SelectorMatch {
		out := &types.SelectorMatch{Match: m}
		for _, v := range s {
			out.Selectors = append(out.Selectors, &types.Selector{Type: "unix", Value: v})
		}
		return out
	}
	feds := func(m types.FederatesWithMatch_MatchBehavior, tds ...string) *types.FederatesWithMatch {
		return &types.FederatesWithMatch{TrustDomains: tds, Match: m}
	}
	for _, tt := range []struct {
		name   string
		filter *entryv1.ListEntriesRequest_Filter
		want   []string // "spiffe path@parent path suffix"
	}{
		{"no filter", nil, []string{"/a@node1", "/a@node2", "/ab@node1", "/c@node1"}},
		{"by SPIFFE ID", &entryv1.ListEntriesRequest_Filter{BySpiffeId: &types.SPIFFEID{TrustDomain: "example.org", Path: "/a"}}, []string{"/a@node1", "/a@node2"}},
		{"by parent ID", &entryv1.ListEntriesRequest_Filter{ByParentId: other}, []string{"/a@node2"}},
		{"selectors exact", &entryv1.ListEntriesRequest_Filter{BySelectors: sels(types.SelectorMatch_MATCH_EXACT, "uid:1")}, []string{"/a@node1", "/a@node2"}},
		{"selectors subset", &entryv1.ListEntriesRequest_Filter{BySelectors: sels(types.SelectorMatch_MATCH_SUBSET, "uid:1", "gid:2", "gid:3")}, []string{"/a@node1", "/a@node2", "/ab@node1"}},
		{"selectors superset", &entryv1.ListEntriesRequest_Filter{BySelectors: sels(types.SelectorMatch_MATCH_SUPERSET, "gid:2")}, []string{"/ab@node1"}},
		{"selectors any", &entryv1.ListEntriesRequest_Filter{BySelectors: sels(types.SelectorMatch_MATCH_ANY, "gid:2", "uid:9")}, []string{"/ab@node1"}},
		{"federates with exact", &entryv1.ListEntriesRequest_Filter{ByFederatesWith: feds(types.FederatesWithMatch_MATCH_EXACT, "partner.test")}, []string{"/ab@node1"}},
		{"federates with superset", &entryv1.ListEntriesRequest_Filter{ByFederatesWith: feds(types.FederatesWithMatch_MATCH_SUPERSET, "spiffe://partner.test")}, []string{"/a@node1", "/ab@node1"}},
		{"federates with subset", &entryv1.ListEntriesRequest_Filter{ByFederatesWith: feds(types.FederatesWithMatch_MATCH_SUBSET, "partner.test")}, []string{"/ab@node1"}},
		{"federates with any", &entryv1.ListEntriesRequest_Filter{ByFederatesWith: feds(types.FederatesWithMatch_MATCH_ANY, "other.test")}, []string{"/a@node1"}},
		{"by hint", &entryv1.ListEntriesRequest_Filter{ByHint: wrapperspb.String("front")}, []string{"/ab@node1"}},
		{"downstream", &entryv1.ListEntriesRequest_Filter{ByDownstream: wrapperspb.Bool(true)}, []string{"/c@node1"}},
		{"parent and selectors together", &entryv1.ListEntriesRequest_Filter{ByParentId: spireid.ToProto(node), BySelectors: sels(types.SelectorMatch_MATCH_EXACT, "uid:1")}, []string{"/a@node1"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := entryv1.NewEntryClient(s.Admin).ListEntries(t.Context(), &entryv1.ListEntriesRequest{Filter: tt.filter})
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, e := range resp.Entries {
				parent := e.ParentId.Path[len(e.ParentId.Path)-5:]
				got = append(got, e.SpiffeId.Path+"@"+parent)
			}
			slices.Sort(got)
			if !slices.Equal(got, tt.want) {
				t.Fatalf("listed %v, want %v", got, tt.want)
			}
			f := tt.filter
			n, err := entryv1.NewEntryClient(s.Admin).CountEntries(t.Context(), &entryv1.CountEntriesRequest{Filter: &entryv1.CountEntriesRequest_Filter{
				BySpiffeId: f.GetBySpiffeId(), ByParentId: f.GetByParentId(), BySelectors: f.GetBySelectors(),
				ByFederatesWith: f.GetByFederatesWith(), ByHint: f.GetByHint(), ByDownstream: f.GetByDownstream(),
			}})
			if err != nil || int(n.Count) != len(tt.want) {
				t.Fatalf("counted %v %v, want %d", n, err, len(tt.want))
			}
		})
	}
}

func TestInvalidEntryFiltersAreRefused(t *testing.T) {
	s := servertest.Start(t)
	for name, f := range map[string]*entryv1.ListEntriesRequest_Filter{
		"a malformed SPIFFE ID":      {BySpiffeId: &types.SPIFFEID{TrustDomain: "Bad Domain", Path: "/x"}},
		"a malformed parent ID":      {ByParentId: &types.SPIFFEID{TrustDomain: "example.org", Path: "no-slash"}},
		"a selector without type":    {BySelectors: &types.SelectorMatch{Selectors: []*types.Selector{{Value: "uid:1"}}}},
		"an unknown selector match":  {BySelectors: &types.SelectorMatch{Selectors: []*types.Selector{{Type: "unix", Value: "uid:1"}}, Match: 42}},
		"no federated trust domain":  {ByFederatesWith: &types.FederatesWithMatch{}},
		"a malformed trust domain":   {ByFederatesWith: &types.FederatesWithMatch{TrustDomains: []string{"Bad Domain"}}},
		"an unknown federates match": {ByFederatesWith: &types.FederatesWithMatch{TrustDomains: []string{"partner.test"}, Match: 42}},
	} {
		_, err := entryv1.NewEntryClient(s.Admin).ListEntries(t.Context(), &entryv1.ListEntriesRequest{Filter: f})
		if status.Code(err) != codes.InvalidArgument {
			t.Errorf("%s: %v; want InvalidArgument", name, err)
		}
		_, err = entryv1.NewEntryClient(s.Admin).CountEntries(t.Context(), &entryv1.CountEntriesRequest{Filter: &entryv1.CountEntriesRequest_Filter{
			BySpiffeId: f.BySpiffeId, ByParentId: f.ByParentId, BySelectors: f.BySelectors, ByFederatesWith: f.ByFederatesWith}})
		if status.Code(err) != codes.InvalidArgument {
			t.Errorf("count with %s: %v; want InvalidArgument", name, err)
		}
	}
}
