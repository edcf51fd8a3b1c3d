package datastoretest

import (
	"slices"
	"strconv"
	"testing"

	"github.com/lanyard-dev/lanyard/attestors"
	"github.com/lanyard-dev/lanyard/server/datastore"
)

// filterFixture creates four entries whose selectors, trust domains, parents, hints and
// downstream flags overlap in the ways the filter cases need, and returns them by name.
func filterFixture(t *testing.T, s datastore.Store) map[string]*datastore.Entry {
	withBundles(t, s, "a.org", "b.org")
	e1 := entry("/w1", "unix:uid:0", "unix:gid:0")
	e1.FederatesWith, e1.Hint = []string{"a.org"}, "web"
	e2 := entry("/w2", "unix:uid:0")
	e2.FederatesWith, e2.Downstream = []string{"a.org", "b.org"}, true
	e3 := entry("/w1", "unix:uid:0", "unix:gid:0", "k8s:ns:x")
	e3.ParentID, e3.Hint = parentB, "db"
	e4 := entry("/w4", "k8s:ns:x")
	e4.ParentID, e4.FederatesWith = parentB, []string{"b.org"}
	made := create(t, s, e1, e2, e3, e4)
	return map[string]*datastore.Entry{"e1": made[0], "e2": made[1], "e3": made[2], "e4": made[3]}
}

func bySel(m datastore.MatchBehavior, s ...string) datastore.EntryFilter {
	return datastore.EntryFilter{BySelectors: &datastore.SelectorMatch{Selectors: sels(s...), Match: m}}
}

func byFed(m datastore.MatchBehavior, tds ...string) datastore.EntryFilter {
	return datastore.EntryFilter{ByFederatesWith: &datastore.FederatesWithMatch{TrustDomains: tds, Match: m}}
}

var entryFilterTests = map[string]func(t *testing.T, open Opener){
	"every filter and match mode returns exactly the matching entries": func(t *testing.T, open Opener) {
		s := open(t)
		fx := filterFixture(t, s)
		all := []*datastore.Entry{fx["e1"], fx["e2"], fx["e3"], fx["e4"]}
		cases := map[string]struct {
			f    datastore.EntryFilter
			want []string
		}{
			"an empty filter returns everything":              {datastore.EntryFilter{}, []string{"e1", "e2", "e3", "e4"}},
			"selectors exact finds the same set":              {bySel(datastore.MatchExact, "unix:uid:0", "unix:gid:0"), []string{"e1"}},
			"selectors exact ignores order":                   {bySel(datastore.MatchExact, "unix:gid:0", "unix:uid:0"), []string{"e1"}},
			"selectors subset finds entries a workload meets": {bySel(datastore.MatchSubset, "unix:uid:0", "unix:gid:0"), []string{"e1", "e2"}},
			"selectors subset of one selector":                {bySel(datastore.MatchSubset, "unix:uid:0"), []string{"e2"}},
			"selectors subset of everything":                  {bySel(datastore.MatchSubset, "unix:uid:0", "unix:gid:0", "k8s:ns:x", "k8s:sa:y"), []string{"e1", "e2", "e3", "e4"}},
			"selectors superset of one selector":              {bySel(datastore.MatchSuperset, "unix:uid:0"), []string{"e1", "e2", "e3"}},
			"selectors superset of two types":                 {bySel(datastore.MatchSuperset, "unix:uid:0", "k8s:ns:x"), []string{"e3"}},
			"selectors any shares one":                        {bySel(datastore.MatchAny, "unix:gid:0", "k8s:ns:x"), []string{"e1", "e3", "e4"}},
			"selectors any with no overlap":                   {bySel(datastore.MatchAny, "unix:uid:9"), nil},
			"selector type and value are not one string": {datastore.EntryFilter{BySelectors: &datastore.SelectorMatch{
				Selectors: []attestors.Selector{{Type: "unix:uid", Value: "0"}}, Match: datastore.MatchAny}}, nil},
			"federates_with exact one domain":  {byFed(datastore.MatchExact, "a.org"), []string{"e1"}},
			"federates_with exact two domains": {byFed(datastore.MatchExact, "b.org", "a.org"), []string{"e2"}},
			"federates_with subset":            {byFed(datastore.MatchSubset, "a.org"), []string{"e1"}},
			"federates_with subset of both":    {byFed(datastore.MatchSubset, "a.org", "b.org"), []string{"e1", "e2", "e4"}},
			"federates_with superset":          {byFed(datastore.MatchSuperset, "b.org"), []string{"e2", "e4"}},
			"federates_with any":               {byFed(datastore.MatchAny, "c.org", "a.org"), []string{"e1", "e2"}},
			"by SPIFFE ID":                     {datastore.EntryFilter{BySPIFFEID: td + "/w1"}, []string{"e1", "e3"}},
			"by parent ID":                     {datastore.EntryFilter{ByParentID: parentB}, []string{"e3", "e4"}},
			"by hint":                          {datastore.EntryFilter{ByHint: ptr("web")}, []string{"e1"}},
			"by empty hint":                    {datastore.EntryFilter{ByHint: ptr("")}, []string{"e2", "e4"}},
			"by downstream":                    {datastore.EntryFilter{ByDownstream: ptr(true)}, []string{"e2"}},
			"by not downstream":                {datastore.EntryFilter{ByDownstream: ptr(false)}, []string{"e1", "e3", "e4"}},
			"filters combine with AND": {datastore.EntryFilter{ByParentID: parentA, ByDownstream: ptr(false),
				BySelectors: &datastore.SelectorMatch{Selectors: sels("unix:uid:0"), Match: datastore.MatchSuperset}}, []string{"e1"}},
			"an empty selector filter does not filter": {bySel(datastore.MatchExact), []string{"e1", "e2", "e3", "e4"}},
		}
		for name, tc := range cases {
			t.Run(name, func(t *testing.T) {
				var want []string
				for _, n := range tc.want {
					want = append(want, fx[n].ID)
				}
				slices.Sort(want)
				got, next, err := s.ListEntries(t.Context(), tc.f, datastore.Page{})
				if err != nil {
					t.Fatal(err)
				}
				if next != "" {
					t.Fatalf("unpaged listing returned next token %q", next)
				}
				if !slices.Equal(ids(got), want) {
					t.Fatalf("ListEntries = %v, want %v (in ID order)", ids(got), want)
				}
				if n, err := s.CountEntries(t.Context(), tc.f); err != nil || n != len(want) {
					t.Fatalf("CountEntries = %d, %v; want %d", n, err, len(want))
				}
				// The shared reference implementation must agree with the backend.
				var ref []string
				for _, e := range all {
					if refMatch(e, tc.f) {
						ref = append(ref, e.ID)
					}
				}
				slices.Sort(ref)
				if !slices.Equal(ref, want) {
					t.Fatalf("datastore.Match* selects %v, the case expects %v", ref, want)
				}
			})
		}
	},
	"an unknown match behavior is an error": func(t *testing.T, open Opener) {
		s := open(t)
		filterFixture(t, s)
		if _, _, err := s.ListEntries(t.Context(), bySel(datastore.MatchBehavior(42), "unix:uid:0"), datastore.Page{}); err == nil {
			t.Fatal("ListEntries with match behavior 42 succeeded, want an error")
		}
		if _, err := s.CountEntries(t.Context(), byFed(datastore.MatchBehavior(-1), "a.org")); err == nil {
			t.Fatal("CountEntries with match behavior -1 succeeded, want an error")
		}
	},
}

func refMatch(e *datastore.Entry, f datastore.EntryFilter) bool {
	switch {
	case f.BySPIFFEID != "" && e.SPIFFEID != f.BySPIFFEID,
		f.ByParentID != "" && e.ParentID != f.ByParentID,
		f.BySelectors != nil && !datastore.MatchSelectors(e.Selectors, *f.BySelectors),
		f.ByFederatesWith != nil && !datastore.MatchFederatesWith(e.FederatesWith, *f.ByFederatesWith),
		f.ByHint != nil && e.Hint != *f.ByHint,
		f.ByDownstream != nil && e.Downstream != *f.ByDownstream:
		return false
	}
	return true
}

// pageAll lists every page of filter with the given size and returns the pages' lengths and
// all entries in order.
func pageAll(t *testing.T, s datastore.Store, f datastore.EntryFilter, size int) ([]int, []*datastore.Entry) {
	t.Helper()
	var sizes []int
	var all []*datastore.Entry
	token := ""
	for range 1000 {
		page, next, err := s.ListEntries(t.Context(), f, datastore.Page{Size: size, Token: token})
		if err != nil {
			t.Fatalf("ListEntries page %d: %v", len(sizes), err)
		}
		if len(page) > size {
			t.Fatalf("page %d has %d entries, more than the size %d", len(sizes), len(page), size)
		}
		if len(page) > 0 {
			sizes = append(sizes, len(page))
		}
		all = append(all, page...)
		if next == "" {
			return sizes, all
		}
		token = next
	}
	t.Fatal("paging did not end after 1000 pages")
	return nil, nil
}

var entryPagingTests = map[string]func(t *testing.T, open Opener){
	"paging through 250 entries by 100 yields 100, 100 and 50 in ID order": func(t *testing.T, open Opener) {
		s := open(t)
		var batch []*datastore.Entry
		for i := range 250 {
			batch = append(batch, entry("/p", "unix:uid:"+strconv.Itoa(i)))
		}
		made := create(t, s, batch...)
		sizes, all := pageAll(t, s, datastore.EntryFilter{}, 100)
		if !slices.Equal(sizes, []int{100, 100, 50}) {
			t.Fatalf("page sizes = %v, want [100 100 50]", sizes)
		}
		if got, want := ids(all), sortedIDs(made); !slices.Equal(got, want) {
			t.Fatal("the pages together are not every entry exactly once in ascending ID order")
		}
	},
	"a page size of 0 returns everything and no token": func(t *testing.T, open Opener) {
		s := open(t)
		var batch []*datastore.Entry
		for i := range 50 {
			batch = append(batch, entry("/z", "unix:uid:"+strconv.Itoa(i)))
		}
		create(t, s, batch...)
		got, next, err := s.ListEntries(t.Context(), datastore.EntryFilter{}, datastore.Page{})
		if err != nil || next != "" || len(got) != 50 {
			t.Fatalf("ListEntries = %d entries, token %q, %v; want 50, \"\", nil", len(got), next, err)
		}
	},
	"paging combines with a filter": func(t *testing.T, open Opener) {
		s := open(t)
		var batch []*datastore.Entry
		for i := range 120 {
			e := entry("/f", "unix:uid:"+strconv.Itoa(i))
			if i%3 == 0 {
				e.Selectors = append(e.Selectors, sels("k8s:ns:paged")...)
			}
			batch = append(batch, e)
		}
		create(t, s, batch...)
		f := bySel(datastore.MatchSuperset, "k8s:ns:paged")
		_, all := pageAll(t, s, f, 7)
		if len(all) != 40 {
			t.Fatalf("paged filter found %d entries, want 40", len(all))
		}
		if !slices.IsSorted(ids(all)) {
			t.Fatal("filtered pages are not in ID order")
		}
	},
	"a malformed page token is an error": func(t *testing.T, open Opener) {
		s := open(t)
		create(t, s, entry("/t", "unix:uid:1"))
		if _, _, err := s.ListEntries(t.Context(), datastore.EntryFilter{}, datastore.Page{Size: 1, Token: "%%% not a token"}); err == nil {
			t.Fatal("ListEntries with a malformed token succeeded, want an error")
		}
	},
}
