package datastoretest

import (
	"errors"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/lanyard-dev/lanyard/attestors"
	"github.com/lanyard-dev/lanyard/server/datastore"
)

// Opener returns a store for t. Calls with different t must return independent, empty stores.
// A second call with the same t must return a store over the same data as the first (a reopen);
// the suite closes the first store before that. The opener should close what it opens in
// t.Cleanup, so Close must tolerate being called twice.
type Opener func(t *testing.T) datastore.Store

// Run checks every method of the datastore.Store contract against the stores open returns.
func Run(t *testing.T, open func(t *testing.T) datastore.Store) {
	groups := []struct {
		name  string
		tests map[string]func(t *testing.T, open Opener)
	}{
		{"entries", entryTests},
		{"entry sizes", entrySizeTests},
		{"entry filters", entryFilterTests},
		{"entry federation", entryFederationTests},
		{"entry paging", entryPagingTests},
		{"entry events", eventTests},
		{"agents", agentTests},
		{"join tokens", tokenTests},
		{"CA journals", journalTests},
		{"bundles", bundleTests},
		{"bundle append and prune", bundleRotationTests},
		{"bundle delete", bundleDeleteTests},
		{"bundle taint and revoke", bundleTaintTests},
		{"bundles revision", bundleRevisionTests},
		{"bundle WIT authorities", bundleWITTests},
		{"federation relationships", federationTests},
		{"durability", durabilityTests},
	}
	for _, g := range groups {
		t.Run(g.name, func(t *testing.T) {
			names := make([]string, 0, len(g.tests))
			for name := range g.tests {
				names = append(names, name)
			}
			slices.Sort(names) // a stable order makes failures reproducible
			for _, name := range names {
				t.Run(name, func(t *testing.T) { g.tests[name](t, open) })
			}
		})
	}
}

const (
	td      = "spiffe://example.org"
	parentA = td + "/spire/agent/join_token/a"
	parentB = td + "/spire/agent/join_token/b"
)

// sels parses "type:value" strings; the type ends at the first colon.
func sels(s ...string) []attestors.Selector {
	out := make([]attestors.Selector, 0, len(s))
	for _, x := range s {
		typ, val, _ := strings.Cut(x, ":")
		out = append(out, attestors.Selector{Type: typ, Value: val})
	}
	return out
}

// entry returns a minimal valid entry under parentA.
func entry(path string, selectors ...string) *datastore.Entry {
	return &datastore.Entry{SPIFFEID: td + path, ParentID: parentA, Selectors: sels(selectors...)}
}

// create stores entries and fails the test unless every item succeeded.
func create(t *testing.T, s datastore.Store, entries ...*datastore.Entry) []*datastore.Entry {
	t.Helper()
	res, err := s.CreateEntries(t.Context(), entries)
	if err != nil {
		t.Fatalf("CreateEntries: %v", err)
	}
	if len(res) != len(entries) {
		t.Fatalf("CreateEntries returned %d results for %d entries", len(res), len(entries))
	}
	out := make([]*datastore.Entry, len(res))
	for i, r := range res {
		if r.Err != nil {
			t.Fatalf("CreateEntries item %d: %v", i, r.Err)
		}
		out[i] = r.Entry
	}
	return out
}

// normal returns a copy of e with its sets sorted and empty slices nil, for comparison:
// the store may return selectors and trust domains in any order.
func normal(e *datastore.Entry) datastore.Entry {
	c := *e
	c.Selectors = datastore.SortSelectors(e.Selectors)
	c.FederatesWith = slices.Sorted(slices.Values(e.FederatesWith))
	c.DNSNames = slices.Clone(e.DNSNames)
	if len(c.Selectors) == 0 {
		c.Selectors = nil
	}
	if len(c.FederatesWith) == 0 {
		c.FederatesWith = nil
	}
	if len(c.DNSNames) == 0 {
		c.DNSNames = nil
	}
	return c
}

func sameEntry(t *testing.T, got, want *datastore.Entry) {
	t.Helper()
	if got == nil || want == nil {
		t.Fatalf("entry is nil: got %v, want %v", got, want)
	}
	if g, w := normal(got), normal(want); !reflect.DeepEqual(g, w) {
		t.Fatalf("entry differs:\n got  %+v\n want %+v", g, w)
	}
}

func ids(entries []*datastore.Entry) []string {
	out := make([]string, len(entries))
	for i, e := range entries {
		out[i] = e.ID
	}
	return out
}

func sortedIDs(entries []*datastore.Entry) []string {
	return slices.Sorted(slices.Values(ids(entries)))
}

func wantErr(t *testing.T, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("error = %v, want one wrapping %v", err, target)
	}
}

func mustGetEntry(t *testing.T, s datastore.Store, id string) *datastore.Entry {
	t.Helper()
	e, err := s.GetEntry(t.Context(), id)
	if err != nil {
		t.Fatalf("GetEntry(%s): %v", id, err)
	}
	return e
}

func ptr[T any](v T) *T { return &v }

// PerTest returns a function that calls create once per test and then returns the same
// value, for openers that must reopen a test's database: create makes a fresh file or
// database and returns where it is.
func PerTest(create func(t *testing.T) string) func(t *testing.T) string {
	var mu sync.Mutex
	made := map[*testing.T]string{}
	return func(t *testing.T) string {
		mu.Lock()
		defer mu.Unlock()
		where, ok := made[t]
		if !ok {
			where = create(t)
			made[t] = where
		}
		return where
	}
}
