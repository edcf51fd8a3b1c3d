package entrycache

import (
	"context"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lanyard-dev/lanyard/server/datastore"
	"github.com/lanyard-dev/lanyard/server/datastore/postgres"
	"github.com/lanyard-dev/lanyard/server/datastore/postgres/pgtest"
	"github.com/lanyard-dev/lanyard/server/datastore/sqlstore"
)

func TestNewRejectsBadConfig(t *testing.T) {
	store := openStore(t)
	tests := map[string]struct {
		cfg  Config
		want string
	}{
		"a missing store":            {Config{TrustDomain: testTD}, "Config.Store is nil"},
		"a missing trust domain":     {Config{Store: store}, "Config.TrustDomain is empty"},
		"a negative poll interval":   {Config{Store: store, TrustDomain: testTD, PollInterval: -time.Second}, "Config.PollInterval is -1s"},
		"a negative resync interval": {Config{Store: store, TrustDomain: testTD, FullResyncInterval: -time.Second}, "Config.FullResyncInterval is -1s"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := New(t.Context(), tc.cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New: %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestNewLoadsEveryEntryAcrossPages(t *testing.T) {
	store := openStore(t)
	var entries []*datastore.Entry
	for i := range listPageSize + 10 {
		entries = append(entries, ent("", agentA, id("/w"), sel("unix", "uid:"+strconv.Itoa(i))))
	}
	create(t, store, entries...)
	c := newCache(t, store, newClock())
	if got := len(c.AuthorizedEntries(agentA, nil)); got != len(entries) {
		t.Fatalf("agent has %d entries after load, want %d", got, len(entries))
	}
}

func TestRefreshAppliesWritesAtOnce(t *testing.T) {
	store := openStore(t)
	c := newCache(t, store, newClock())
	signal, stop := c.Subscribe()
	defer stop()

	create(t, store, ent("e1", agentA, id("/w1")), ent("e2", agentA, id("/w2")))
	must(t, c.Refresh(t.Context()))
	if got := entryIDs(c.AuthorizedEntries(agentA, nil)); !slices.Equal(got, []string{"e1", "e2"}) {
		t.Fatalf("after creating, agent has %v", got)
	}
	if !signalled(signal) {
		t.Fatal("no signal after a create was applied")
	}

	// Re-parenting moves the entry to the other agent.
	_, err := store.UpdateEntries(t.Context(), []*datastore.Entry{{ID: "e2", ParentID: agentB}}, datastore.EntryMask{ParentID: true})
	must(t, err)
	must(t, c.Refresh(t.Context()))
	if got := entryIDs(c.AuthorizedEntries(agentA, nil)); !slices.Equal(got, []string{"e1"}) {
		t.Fatalf("after re-parenting e2, agent A has %v", got)
	}
	if got := entryIDs(c.AuthorizedEntries(agentB, nil)); !slices.Equal(got, []string{"e2"}) {
		t.Fatalf("after re-parenting e2, agent B has %v", got)
	}
	if e, ok := c.IsAuthorized(agentB, nil, "e2"); !ok || e.RevisionNumber != 1 {
		t.Fatalf("IsAuthorized(B, e2) = %v, %v; want the updated entry (revision 1)", e, ok)
	}

	deleteEntries(t, store, "e1")
	must(t, c.Refresh(t.Context()))
	if got := c.AuthorizedEntries(agentA, nil); len(got) != 0 {
		t.Fatalf("after deleting e1, agent A has %v", entryIDs(got))
	}
	if c.Len() != 1 {
		t.Fatalf("cache holds %d entries, want 1", c.Len())
	}

	signalled(signal)
	must(t, c.Refresh(t.Context()))
	if signalled(signal) {
		t.Fatal("a refresh with nothing new signalled subscribers")
	}
	stop()
	create(t, store, ent("e3", agentA, id("/w3")))
	must(t, c.Refresh(t.Context()))
	if signalled(signal) {
		t.Fatal("an unsubscribed channel was signalled")
	}
}

func TestRunPicksUpWritesOfOtherServers(t *testing.T) {
	// Each returns an opener of stores over one database, as servers sharing it have.
	backends := map[string]func(t *testing.T) func() *sqlstore.Store{
		"sqlite": func(t *testing.T) func() *sqlstore.Store {
			path := filepath.Join(t.TempDir(), "shared.db")
			return func() *sqlstore.Store { return openStoreAt(t, path) }
		},
		"postgres": func(t *testing.T) func() *sqlstore.Store {
			url := pgtest.Start(t).NewDatabase(t)
			return func() *sqlstore.Store {
				s, err := postgres.Open(t.Context(), url, postgres.Pool{}, nil)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { s.Close() })
				return s
			}
		},
	}
	for name, shared := range backends {
		t.Run(name, func(t *testing.T) {
			open := shared(t)
			c := newCache(t, open(), newClock(), func(cfg *Config) { cfg.PollInterval = 10 * time.Millisecond })
			ctx, cancel := context.WithCancel(t.Context())
			done := make(chan error)
			go func() { done <- c.Run(ctx) }()

			// Another server shares the database; nobody calls Refresh on this cache.
			other := open()
			create(t, other, ent("remote", agentA, id("/w")))
			eventually(t, "the other server's entry is cached", func() bool {
				_, ok := c.IsAuthorized(agentA, nil, "remote")
				return ok
			})
			cancel()
			if err := <-done; err != nil {
				t.Fatalf("Run returned %v after cancellation, want nil", err)
			}
		})
	}
}

// hidingStore hides chosen entry events, as a database shared by several servers does
// with an event whose transaction commits after events with higher IDs.
type hidingStore struct {
	datastore.EntryStore
	mu     sync.Mutex
	hidden map[string]bool // entry IDs whose events are hidden
}

func (h *hidingStore) ListEntryEvents(ctx context.Context, after int64, limit int) ([]datastore.EntryEvent, error) {
	evs, err := h.EntryStore.ListEntryEvents(ctx, after, limit)
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.DeleteFunc(evs, func(ev datastore.EntryEvent) bool { return h.hidden[ev.EntryID] }), err
}

func (h *hidingStore) setHidden(ids ...string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.hidden = map[string]bool{}
	for _, id := range ids {
		h.hidden[id] = true
	}
}

func TestLateEventsAreNotLost(t *testing.T) {
	store := openStore(t)
	hiding := &hidingStore{EntryStore: store}
	clk := newClock()
	c := newCache(t, hiding, clk)
	create(t, store, ent("first", agentA, id("/1")))
	must(t, c.Refresh(t.Context()))

	hiding.setHidden("late")
	create(t, store, ent("late", agentA, id("/late")))
	create(t, store, ent("after", agentA, id("/after")))
	must(t, c.Refresh(t.Context()))
	if got := entryIDs(c.AuthorizedEntries(agentA, nil)); !slices.Equal(got, []string{"after", "first"}) {
		t.Fatalf("before the late event shows, agent has %v", got)
	}

	hiding.setHidden()
	clk.Add(10 * time.Second)
	must(t, c.Refresh(t.Context()))
	if _, ok := c.IsAuthorized(agentA, nil, "late"); !ok {
		t.Fatal("the entry whose event showed up late was never applied")
	}
}

func TestFullReloadRepairsMissedEvents(t *testing.T) {
	store := openStore(t)
	hiding := &hidingStore{EntryStore: store}
	clk := newClock()
	c := newCache(t, hiding, clk, func(cfg *Config) { cfg.FullResyncInterval = time.Minute })
	signal, stop := c.Subscribe()
	defer stop()

	hiding.setHidden("lost")
	create(t, store, ent("lost", agentA, id("/lost")))
	must(t, c.poll(t.Context()))
	if _, ok := c.IsAuthorized(agentA, nil, "lost"); ok {
		t.Fatal("test setup: the hidden event was applied")
	}
	clk.Add(time.Minute)
	must(t, c.poll(t.Context()))
	if _, ok := c.IsAuthorized(agentA, nil, "lost"); !ok {
		t.Fatal("a full reload did not pick up the entry whose event was lost")
	}
	if !signalled(signal) {
		t.Fatal("a full reload that changed entries did not signal subscribers")
	}
	clk.Add(time.Minute)
	must(t, c.poll(t.Context()))
	if signalled(signal) {
		t.Fatal("a full reload that changed nothing signalled subscribers")
	}
}

func TestExpiryWithdrawsEntriesAndSignals(t *testing.T) {
	store := openStore(t)
	clk := newClock()
	c := newCache(t, store, clk)
	e := ent("short", agentA, id("/short"))
	e.ExpiresAt = clk.Now().Add(30 * time.Second).Unix()
	create(t, store, e)
	must(t, c.Refresh(t.Context()))
	signal, stop := c.Subscribe()
	defer stop()

	must(t, c.poll(t.Context()))
	if signalled(signal) {
		t.Fatal("signalled before anything expired")
	}
	clk.Add(31 * time.Second)
	if _, ok := c.IsAuthorized(agentA, nil, "short"); ok {
		t.Fatal("an expired entry is still authorized")
	}
	must(t, c.poll(t.Context()))
	if !signalled(signal) {
		t.Fatal("no signal when an entry expired, so streams would keep it")
	}
	must(t, c.poll(t.Context()))
	if signalled(signal) {
		t.Fatal("signalled again for the same expiry")
	}
}

func TestConcurrentReadersDuringApplies(t *testing.T) {
	store := openStore(t)
	c := newCache(t, store, newClock())
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			for ctx.Err() == nil {
				for _, e := range c.AuthorizedEntries(agentA, selsA) {
					if e.ParentID != agentA {
						t.Errorf("agent A got entry %s parented to %s", e.ID, e.ParentID)
						return
					}
				}
			}
		})
	}
	for i := range 5 {
		var batch []*datastore.Entry
		for j := range 100 {
			parent := agentA
			if j%2 == 1 {
				parent = agentB
			}
			batch = append(batch, ent("", parent, id("/w"), sel("unix", "uid:"+strconv.Itoa(i*100+j))))
		}
		create(t, store, batch...)
		must(t, c.Refresh(t.Context()))
	}
	cancel()
	wg.Wait()
	if got := len(c.AuthorizedEntries(agentA, nil)); got != 250 {
		t.Fatalf("agent A has %d entries, want 250", got)
	}
}
