package sqlite_test

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/lanyard-dev/lanyard/attestors"
	"github.com/lanyard-dev/lanyard/server/datastore"
	"github.com/lanyard-dev/lanyard/server/datastore/sqlite"
)

// benchEntries returns n entries shaped like a Kubernetes cluster's: 50 nodes as parents,
// one namespace selector shared by 100 entries and one service account selector each.
func benchEntries(from, n int) []*datastore.Entry {
	batch := make([]*datastore.Entry, n)
	for j := range batch {
		k := from + j
		batch[j] = &datastore.Entry{
			SPIFFEID: fmt.Sprintf("spiffe://example.org/ns/app%d/sa/w%d", k/100, k),
			ParentID: fmt.Sprintf("spiffe://example.org/spire/agent/k8s_psat/c1/node%d", k%50),
			Selectors: []attestors.Selector{
				{Type: "k8s", Value: fmt.Sprintf("ns:app%d", k/100)}, {Type: "k8s", Value: fmt.Sprintf("sa:w%d", k)},
			},
			FederatesWith: []string{fmt.Sprintf("partner%d.org", k%10)},
		}
	}
	return batch
}

func mustCreate(b *testing.B, s *sqlite.Store, batch []*datastore.Entry) {
	b.Helper()
	res, err := s.CreateEntries(b.Context(), batch)
	if err != nil {
		b.Fatal(err)
	}
	for _, r := range res {
		if r.Err != nil {
			b.Fatal(r.Err)
		}
	}
}

// BenchmarkCreateEntries10k measures one CreateEntries call of 10,000 entries into a fresh file.
func BenchmarkCreateEntries10k(b *testing.B) {
	for i := range b.N {
		b.StopTimer()
		s, err := sqlite.Open(b.Context(), filepath.Join(b.TempDir(), fmt.Sprintf("bench%d.sqlite3", i)), testLog(b))
		if err != nil {
			b.Fatal(err)
		}
		batch := benchEntries(0, 10_000)
		b.StartTimer()
		mustCreate(b, s, batch)
		b.StopTimer()
		s.Close()
		b.StartTimer()
	}
}

// BenchmarkListEntries100k measures the lookups a server makes against 100,000 entries.
func BenchmarkListEntries100k(b *testing.B) {
	s, err := sqlite.Open(b.Context(), filepath.Join(b.TempDir(), "bench.sqlite3"), testLog(b))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	for from := 0; from < 100_000; from += 10_000 {
		mustCreate(b, s, benchEntries(from, 10_000))
	}
	sel := func(m datastore.MatchBehavior, v ...string) datastore.EntryFilter {
		var sels []attestors.Selector
		for _, x := range v {
			sels = append(sels, attestors.Selector{Type: "k8s", Value: x})
		}
		return datastore.EntryFilter{BySelectors: &datastore.SelectorMatch{Selectors: sels, Match: m}}
	}
	cases := []struct {
		name string
		f    datastore.EntryFilter
		want int
	}{
		{"by parent ID", datastore.EntryFilter{ByParentID: "spiffe://example.org/spire/agent/k8s_psat/c1/node7"}, 2000},
		{"by SPIFFE ID", datastore.EntryFilter{BySPIFFEID: "spiffe://example.org/ns/app3/sa/w345"}, 1},
		{"workload subset", sel(datastore.MatchSubset, "ns:app3", "sa:w345", "pod-name:x", "node-name:y"), 1},
		{"exact", sel(datastore.MatchExact, "ns:app3", "sa:w345"), 1},
		{"superset of a namespace", sel(datastore.MatchSuperset, "ns:app3"), 100},
		{"any", sel(datastore.MatchAny, "sa:w1", "sa:w2"), 2},
		{"federates with", datastore.EntryFilter{ByFederatesWith: &datastore.FederatesWithMatch{
			TrustDomains: []string{"partner3.org"}, Match: datastore.MatchExact}}, 10_000},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			for b.Loop() {
				got, _, err := s.ListEntries(b.Context(), tc.f, datastore.Page{})
				if err != nil {
					b.Fatal(err)
				}
				if len(got) != tc.want {
					b.Fatalf("got %d entries, want %d", len(got), tc.want)
				}
			}
		})
	}
}
