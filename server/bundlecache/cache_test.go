package bundlecache

import (
	"context"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/lanyard-dev/lanyard/internal/poll"
	"github.com/lanyard-dev/lanyard/internal/testca"
	"github.com/lanyard-dev/lanyard/server/datastore"
	"github.com/lanyard-dev/lanyard/server/datastore/sqlite"
)

var testTD = spiffeid.RequireTrustDomainFromString("example.org")

// countingStore is a real SQLite store that counts the reads the cache makes.
type countingStore struct {
	*sqlite.Store
	revisions, lists atomic.Int64
}

func (s *countingStore) BundlesRevision(ctx context.Context) (int64, error) {
	s.revisions.Add(1)
	return s.Store.BundlesRevision(ctx)
}

func (s *countingStore) ListBundles(ctx context.Context, p datastore.Page) ([]*datastore.Bundle, string, error) {
	s.lists.Add(1)
	return s.Store.ListBundles(ctx, p)
}

func bundleOf(t *testing.T, td string, seq uint64) *datastore.Bundle {
	cert, _ := testca.New(t, td, nil, nil, time.Now().Add(time.Hour))
	return &datastore.Bundle{TrustDomain: td, SequenceNumber: seq, X509Authorities: []datastore.X509Authority{{DER: cert.Raw}}}
}

type fixture struct {
	store *countingStore
	cache *Cache
	clk   *clocktesting.FakeClock
}

func start(t *testing.T) *fixture {
	t.Helper()
	s, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "ds.sqlite3"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if _, err := s.CreateBundle(t.Context(), bundleOf(t, testTD.Name(), 1)); err != nil {
		t.Fatal(err)
	}
	f := &fixture{store: &countingStore{Store: s}, clk: clocktesting.NewFakeClock(time.Now())}
	if f.cache, err = New(t.Context(), Config{TrustDomain: testTD, Store: f.store, Clock: f.clk}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = f.cache.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	poll.Until(t, 10*time.Second, "the poll ticker to be armed", f.clk.HasWaiters)
	return f
}

// tick moves the fake clock one poll interval and waits until the cache has read the revision.
func (f *fixture) tick(t *testing.T) {
	t.Helper()
	before := f.store.revisions.Load()
	f.clk.Step(time.Second)
	poll.Until(t, 10*time.Second, "the revision poll", func() bool { return f.store.revisions.Load() > before })
}

func TestABundleWrittenElsewhereReachesSubscribersAtTheNextPoll(t *testing.T) {
	f := start(t)
	changed, stop := f.cache.Subscribe()
	defer stop()
	// Written straight to the datastore, as another server sharing it would: no Notify.
	if _, err := f.store.SetBundle(t.Context(), bundleOf(t, "partner.org", 7)); err != nil {
		t.Fatal(err)
	}
	f.tick(t)
	poll.Until(t, 10*time.Second, "the change signal", func() bool {
		select {
		case <-changed:
			return true
		default:
			return false
		}
	})
	got, err := f.cache.FederatedBundles(t.Context(), []string{"partner.org", "unknown.org"})
	if err != nil || len(got) != 1 || got[0].TrustDomain != "partner.org" || got[0].SequenceNumber != 7 {
		t.Fatalf("FederatedBundles = %v, %v; want partner.org at sequence 7", got, err)
	}
}

func TestNotifyReloadsAtOnceWithoutWaitingForThePoll(t *testing.T) {
	f := start(t)
	if _, err := f.store.SetBundle(t.Context(), bundleOf(t, testTD.Name(), 2)); err != nil {
		t.Fatal(err)
	}
	f.cache.Notify()
	poll.Until(t, 10*time.Second, "the own bundle at sequence 2", func() bool {
		_, seq, _ := f.cache.Bundle(t.Context())
		return seq == 2
	})
}

func TestReadsAreServedFromMemoryAndAnIdlePollReadsOneRevision(t *testing.T) {
	f := start(t)
	if _, err := f.store.SetBundle(t.Context(), bundleOf(t, "partner.org", 1)); err != nil {
		t.Fatal(err)
	}
	f.tick(t) // loads partner.org
	poll.Until(t, 10*time.Second, "partner.org loaded", func() bool {
		got, _ := f.cache.FederatedBundles(t.Context(), []string{"partner.org"})
		return len(got) == 1
	})
	revs, lists := f.store.revisions.Load(), f.store.lists.Load()
	for range 100 {
		if _, _, err := f.cache.Bundle(t.Context()); err != nil {
			t.Fatal(err)
		}
		if _, err := f.cache.FederatedBundles(t.Context(), []string{"partner.org"}); err != nil {
			t.Fatal(err)
		}
		if _, err := f.cache.GetX509BundleForTrustDomain(testTD); err != nil {
			t.Fatal(err)
		}
	}
	if r, l := f.store.revisions.Load(), f.store.lists.Load(); r != revs || l != lists {
		t.Fatalf("300 reads cost %d revision reads and %d listings; want none", r-revs, l-lists)
	}
	f.tick(t)
	f.tick(t)
	if l := f.store.lists.Load(); l != lists {
		t.Fatalf("idle polls listed the bundles %d times; want none (one revision read each)", l-lists)
	}
}

func TestClientSVIDsMustChainToTheOwnTrustDomain(t *testing.T) {
	f := start(t)
	if _, err := f.cache.GetX509BundleForTrustDomain(spiffeid.RequireTrustDomainFromString("partner.org")); err == nil {
		t.Fatal("a federated trust domain's bundle was offered for client SVIDs")
	}
	b, err := f.cache.GetX509BundleForTrustDomain(testTD)
	if err != nil || len(b.X509Authorities()) != 1 {
		t.Fatalf("own X.509 bundle = %v, %v; want its one authority", b, err)
	}
}

func TestNewFailsWithoutTheOwnBundle(t *testing.T) {
	s, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "ds.sqlite3"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := New(t.Context(), Config{TrustDomain: testTD, Store: s}); err == nil {
		t.Fatal("New succeeded over a datastore without the own bundle")
	}
}
