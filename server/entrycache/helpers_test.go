package entrycache

import (
	"context"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/lanyard-dev/lanyard/attestors"
	"github.com/lanyard-dev/lanyard/server/datastore"
	"github.com/lanyard-dev/lanyard/server/datastore/sqlite"
)

var (
	testTD   = spiffeid.RequireTrustDomainFromString("example.org")
	serverID = "spiffe://example.org/spire/server"
	agentA   = "spiffe://example.org/spire/agent/k8s_psat/c1/node-a"
	agentB   = "spiffe://example.org/spire/agent/k8s_psat/c1/node-b"
	// Node selectors of agent A; B has none of the cluster-2 ones.
	selsA = []attestors.Selector{{Type: "k8s_psat", Value: "cluster:c1"}, {Type: "k8s_psat", Value: "agent_node_name:node-a"}}
)

func id(path string) string { return "spiffe://example.org" + path }

// ent builds an entry with the given ID, parent and SPIFFE ID, and one selector unique to
// it unless sels are given.
func ent(entryID, parent, spiffeID string, sels ...attestors.Selector) *datastore.Entry {
	if len(sels) == 0 {
		sels = []attestors.Selector{{Type: "unix", Value: "uid:" + entryID}}
	}
	return &datastore.Entry{ID: entryID, ParentID: parent, SPIFFEID: spiffeID, Selectors: sels}
}

func sel(typ, value string) attestors.Selector { return attestors.Selector{Type: typ, Value: value} }

func openStore(t testing.TB) *sqlite.Store {
	t.Helper()
	return openStoreAt(t, filepath.Join(t.TempDir(), "lanyard.db"))
}

// openStoreAt opens the SQLite file at path; two stores on one file act as two servers
// sharing a database.
func openStoreAt(t testing.TB, path string) *sqlite.Store {
	t.Helper()
	s, err := sqlite.Open(context.Background(), path, nil)
	if err != nil {
		t.Fatalf("open sqlite: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func create(t testing.TB, s datastore.EntryStore, entries ...*datastore.Entry) []*datastore.Entry {
	t.Helper()
	res, err := s.CreateEntries(context.Background(), entries)
	if err != nil {
		t.Fatalf("create entries: %v", err)
	}
	out := make([]*datastore.Entry, len(res))
	for i, r := range res {
		if r.Err != nil {
			t.Fatalf("create entry %d: %v", i, r.Err)
		}
		out[i] = r.Entry
	}
	return out
}

// storeBundle stores a bundle for td, so entries may federate with it.
func storeBundle(t testing.TB, s datastore.BundleStore, td string) {
	t.Helper()
	if _, err := s.SetBundle(context.Background(), &datastore.Bundle{TrustDomain: td}); err != nil {
		t.Fatal(err)
	}
}

func deleteEntries(t testing.TB, s datastore.EntryStore, ids ...string) {
	t.Helper()
	res, err := s.DeleteEntries(context.Background(), ids)
	if err != nil {
		t.Fatalf("delete entries: %v", err)
	}
	for _, r := range res {
		if r.Err != nil {
			t.Fatalf("delete entry: %v", r.Err)
		}
	}
}

// clock is a settable time source.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Unix(1_800_000_000, 0)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newCache(t testing.TB, store datastore.EntryStore, clk *clock, tweak ...func(*Config)) *Cache {
	t.Helper()
	cfg := Config{Store: store, TrustDomain: testTD, Now: clk.Now}
	for _, f := range tweak {
		f(&cfg)
	}
	c, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatalf("entrycache.New: %v", err)
	}
	return c
}

func entryIDs(entries []*datastore.Entry) []string {
	out := make([]string, len(entries))
	for i, e := range entries {
		out[i] = e.ID
	}
	slices.Sort(out)
	return out
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// signalled reports whether ch holds a signal, without waiting.
func signalled(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
