package entrycache

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/spiffe/spire-api-sdk/proto/spire/api/types"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/lanyard-dev/lanyard/attestors"
	agentv1 "github.com/lanyard-dev/lanyard/proto/lanyard/agent/v1"
	"github.com/lanyard-dev/lanyard/server/datastore"
	"github.com/lanyard-dev/lanyard/server/datastore/sqlite"
)

// testBundles is a BundleSource whose bundles the test sets.
type testBundles struct {
	mu   sync.Mutex
	own  *types.Bundle
	fed  map[string]*types.Bundle
	subs map[chan struct{}]struct{}
}

func newTestBundles() *testBundles {
	return &testBundles{
		own:  &types.Bundle{TrustDomain: testTD.Name(), SequenceNumber: 1, X509Authorities: []*types.X509Certificate{{Asn1: []byte("ca-1")}}},
		fed:  map[string]*types.Bundle{},
		subs: map[chan struct{}]struct{}{},
	}
}

func (b *testBundles) Bundle(context.Context) (*types.Bundle, uint64, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return proto.CloneOf(b.own), b.own.SequenceNumber, nil
}

func (b *testBundles) FederatedBundles(_ context.Context, tds []string) ([]*types.Bundle, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []*types.Bundle
	for _, td := range tds {
		if fb, ok := b.fed[td]; ok {
			out = append(out, proto.CloneOf(fb))
		}
	}
	return out, nil
}

func (b *testBundles) Subscribe() (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	b.mu.Lock()
	b.subs[ch] = struct{}{}
	b.mu.Unlock()
	return ch, func() { b.mu.Lock(); delete(b.subs, ch); b.mu.Unlock() }
}

// set changes a bundle (own when td is ours) and signals subscribers.
func (b *testBundles) set(td string, seq uint64) {
	b.mu.Lock()
	nb := &types.Bundle{TrustDomain: td, SequenceNumber: seq, X509Authorities: []*types.X509Certificate{{Asn1: fmt.Appendf(nil, "ca-%d", seq)}}}
	if td == testTD.Name() {
		b.own = nb
	} else {
		b.fed[td] = nb
	}
	for ch := range b.subs {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
	b.mu.Unlock()
}

// agentSelectors stands in for the datastore's agent records: the lookup authenticates the
// caller by the test-only metadata key "agent".
var agentSelectors = map[string][]attestors.Selector{agentA: selsA, agentB: {sel("k8s_psat", "cluster:c2")}}

func testLookup(ctx context.Context) (string, []attestors.Selector, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	if v := md.Get("agent"); len(v) == 1 {
		if sels, ok := agentSelectors[v[0]]; ok {
			return v[0], sels, nil
		}
	}
	return "", nil, status.Error(codes.PermissionDenied, "only attested agents may watch entries")
}

type watchEnv struct {
	store   *sqlite.Store
	cache   *Cache
	bundles *testBundles
	client  agentv1.EntrySyncClient
}

// startWatch serves EntrySync on a temporary unix socket.
func startWatch(t testing.TB, tweak ...func(*Config)) *watchEnv {
	t.Helper()
	store := openStore(t)
	cache := newCache(t, store, newClock(), tweak...)
	bundles := newTestBundles()
	dir, err := os.MkdirTemp("", "entrysync")
	must(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	sock := filepath.Join(dir, "s.sock")
	lis, err := net.Listen("unix", sock)
	must(t, err)
	srv := grpc.NewServer()
	agentv1.RegisterEntrySyncServer(srv, NewWatchService(cache, testLookup, bundles, nil))
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)
	conn, err := grpc.NewClient("unix://"+sock, grpc.WithTransportCredentials(insecure.NewCredentials()))
	must(t, err)
	t.Cleanup(func() { conn.Close() })
	return &watchEnv{store: store, cache: cache, bundles: bundles, client: agentv1.NewEntrySyncClient(conn)}
}

// agentView receives a Watch stream and keeps what an agent would hold.
type agentView struct {
	t       testing.TB
	msgs    chan *agentv1.WatchResponse
	errc    chan error
	cancel  context.CancelFunc
	entries map[string]*types.Entry
	seen    []*agentv1.WatchResponse // every message so far
}

func (e *watchEnv) watch(t testing.TB, agent string) *agentView {
	t.Helper()
	ctx, cancel := context.WithCancel(metadata.AppendToOutgoingContext(context.Background(), "agent", agent))
	t.Cleanup(cancel)
	stream, err := e.client.Watch(ctx, &agentv1.WatchRequest{})
	must(t, err)
	v := &agentView{t: t, msgs: make(chan *agentv1.WatchResponse, 1000), errc: make(chan error, 1), cancel: cancel, entries: map[string]*types.Entry{}}
	go func() {
		for {
			m, err := stream.Recv()
			if err != nil {
				v.errc <- err
				return
			}
			v.msgs <- m
		}
	}()
	return v
}

// next returns the next message, failing the test after a deadline.
func (v *agentView) next() *agentv1.WatchResponse {
	v.t.Helper()
	select {
	case m := <-v.msgs:
		v.seen = append(v.seen, m)
		if m.Full {
			clear(v.entries)
		}
		for _, e := range m.Upserted {
			v.entries[e.Id] = e
		}
		for _, id := range m.DeletedIds {
			delete(v.entries, id)
		}
		return m
	case err := <-v.errc:
		v.t.Fatalf("stream ended: %v", err)
	case <-time.After(10 * time.Second):
		v.t.Fatal("timed out waiting for a Watch message")
	}
	return nil
}

// fullSet reads one complete set and returns its messages.
func (v *agentView) fullSet() []*agentv1.WatchResponse {
	v.t.Helper()
	first := v.next()
	if !first.Full {
		v.t.Fatalf("expected a complete set, got a diff: %v", first)
	}
	msgs := []*agentv1.WatchResponse{first}
	for m := first; m.More; {
		m = v.next()
		if m.Full {
			v.t.Fatal("a new complete set started before the previous one ended")
		}
		msgs = append(msgs, m)
	}
	return msgs
}

func (v *agentView) ids() []string {
	out := make([]string, 0, len(v.entries))
	for id := range v.entries {
		out = append(out, id)
	}
	slices.Sort(out)
	return out
}

// written creates entries and refreshes the cache, as the entry API does.
func (e *watchEnv) written(t testing.TB, entries ...*datastore.Entry) []*datastore.Entry {
	t.Helper()
	out := create(t, e.store, entries...)
	must(t, e.cache.Refresh(context.Background()))
	return out
}

func TestWatchStartsWithTheCompleteAuthorizedSet(t *testing.T) {
	env := startWatch(t)
	env.bundles.set("partner.org", 7)
	storeBundle(t, env.store, "partner.org")
	fed := ent("fed", agentA, id("/fed"))
	fed.FederatesWith = []string{"partner.org"}
	create(t, env.store,
		ent("mine", agentA, id("/mine")), ent("child", id("/mine"), id("/child")),
		ent("alias", serverID, id("/cluster/c1"), selsA[0]), ent("via-alias", id("/cluster/c1"), id("/va")),
		ent("theirs", agentB, id("/theirs")), fed)
	must(t, env.cache.Refresh(t.Context()))

	v := env.watch(t, agentA)
	first := v.fullSet()[0]
	if got, want := v.ids(), []string{"alias", "child", "fed", "mine", "via-alias"}; !slices.Equal(got, want) {
		t.Fatalf("complete set %v, want %v", got, want)
	}
	if first.Bundle.GetSequenceNumber() != 1 {
		t.Errorf("complete set carries bundle %v, want the own bundle (sequence 1)", first.Bundle)
	}
	if !first.FederatedBundlesSet || len(first.FederatedBundles) != 1 || first.FederatedBundles[0].TrustDomain != "partner.org" {
		t.Errorf("complete set carries federated bundles %v (set=%v), want partner.org's", first.FederatedBundles, first.FederatedBundlesSet)
	}
	if e := v.entries["child"]; e.GetParentId().GetPath() != "/mine" || e.GetSpiffeId().GetTrustDomain() != "example.org" {
		t.Errorf("entry converted wrongly: %v", e)
	}
}

func TestWatchPushesOnlyChanges(t *testing.T) {
	env := startWatch(t)
	v := env.watch(t, agentA)
	if v.fullSet(); len(v.entries) != 0 {
		t.Fatalf("new agent starts with %v", v.ids())
	}

	steps := []struct {
		name  string
		write func(t *testing.T)
		check func(t *testing.T, m *agentv1.WatchResponse)
	}{
		{"an entry created for the agent arrives as an upsert", func(t *testing.T) {
			env.written(t, ent("w1", agentA, id("/w1")))
		}, func(t *testing.T, m *agentv1.WatchResponse) {
			wantIDs(t, m.Upserted, "w1")
		}},
		{"an entry created below an authorized one arrives", func(t *testing.T) {
			env.written(t, ent("w2", id("/w1"), id("/w2")))
		}, func(t *testing.T, m *agentv1.WatchResponse) {
			wantIDs(t, m.Upserted, "w2")
		}},
		{"an updated entry arrives again with its new revision", func(t *testing.T) {
			_, err := env.store.UpdateEntries(t.Context(), []*datastore.Entry{{ID: "w2", Hint: "db"}}, datastore.EntryMask{Hint: true})
			must(t, err)
			must(t, env.cache.Refresh(t.Context()))
		}, func(t *testing.T, m *agentv1.WatchResponse) {
			wantIDs(t, m.Upserted, "w2")
			if m.Upserted[0].RevisionNumber != 1 || m.Upserted[0].Hint != "db" {
				t.Fatalf("updated entry arrived as %v", m.Upserted[0])
			}
		}},
		{"another agent's entries never arrive", func(t *testing.T) {
			env.written(t, ent("b1", agentB, id("/b1")), ent("b2", id("/b1"), id("/b2")))
			env.written(t, ent("w3", agentA, id("/w3")))
		}, func(t *testing.T, m *agentv1.WatchResponse) {
			wantIDs(t, m.Upserted, "w3")
		}},
		{"a node alias the agent matches brings the alias and its entries", func(t *testing.T) {
			env.written(t, ent("alias", serverID, id("/cluster/c1"), selsA...), ent("under-alias", id("/cluster/c1"), id("/ua")))
		}, func(t *testing.T, m *agentv1.WatchResponse) {
			wantIDs(t, m.Upserted, "alias", "under-alias")
		}},
		{"a cycle is sent once and the stream keeps working", func(t *testing.T) {
			env.written(t, ent("cyc1", id("/w3"), id("/c")), ent("cyc2", id("/c"), id("/w3")))
		}, func(t *testing.T, m *agentv1.WatchResponse) {
			wantIDs(t, m.Upserted, "cyc1", "cyc2")
		}},
		{"deleting an entry withdraws it and what hung below it", func(t *testing.T) {
			deleteEntries(t, env.store, "w1")
			must(t, env.cache.Refresh(t.Context()))
		}, func(t *testing.T, m *agentv1.WatchResponse) {
			slices.Sort(m.DeletedIds)
			if !slices.Equal(m.DeletedIds, []string{"w1", "w2"}) || len(m.Upserted) != 0 {
				t.Fatalf("got deleted %v and upserted %v, want only w1 and w2 deleted", m.DeletedIds, m.Upserted)
			}
		}},
	}
	for _, step := range steps {
		t.Run(step.name, func(t *testing.T) {
			step.write(t)
			m := waitForEntryChange(v)
			if m.Full {
				t.Fatal("got a complete set where a diff was due")
			}
			step.check(t, m)
		})
	}
	for _, m := range v.seen {
		for _, e := range m.Upserted {
			if e.Id == "b1" || e.Id == "b2" {
				t.Fatalf("agent A received agent B's entry %s", e.Id)
			}
		}
	}
	if got, want := v.ids(), []string{"alias", "cyc1", "cyc2", "under-alias", "w3"}; !slices.Equal(got, want) {
		t.Fatalf("agent ends with %v, want %v", got, want)
	}
}

// waitForEntryChange returns the next message that changes entries.
func waitForEntryChange(v *agentView) *agentv1.WatchResponse {
	for {
		if m := v.next(); len(m.Upserted) > 0 || len(m.DeletedIds) > 0 {
			return m
		}
	}
}

func wantIDs(t *testing.T, got []*types.Entry, want ...string) {
	t.Helper()
	ids := make([]string, len(got))
	for i, e := range got {
		ids[i] = e.Id
	}
	slices.Sort(ids)
	if !slices.Equal(ids, want) {
		t.Fatalf("upserted %v, want %v", ids, want)
	}
}

func TestWatchPushesBundleChanges(t *testing.T) {
	env := startWatch(t)
	v := env.watch(t, agentA)
	v.fullSet()

	env.bundles.set(testTD.Name(), 2)
	m := v.next()
	if m.Bundle.GetSequenceNumber() != 2 || len(m.Upserted) != 0 || m.FederatedBundlesSet {
		t.Fatalf("after the own bundle changed got %v, want only the new bundle", m)
	}

	env.bundles.set("partner.org", 5)
	storeBundle(t, env.store, "partner.org")
	fed := ent("fed", agentA, id("/fed"))
	fed.FederatesWith = []string{"partner.org"}
	env.written(t, fed)
	m = waitForEntryChange(v)
	if !m.FederatedBundlesSet || len(m.FederatedBundles) != 1 || m.FederatedBundles[0].SequenceNumber != 5 {
		t.Fatalf("an entry federating with partner.org arrived without its bundle: %v", m)
	}

	env.bundles.set("partner.org", 6)
	m = v.next()
	if !m.FederatedBundlesSet || len(m.FederatedBundles) != 1 || m.FederatedBundles[0].SequenceNumber != 6 || m.Bundle != nil {
		t.Fatalf("after partner.org's bundle changed got %v, want only the federated set", m)
	}

	deleteEntries(t, env.store, "fed")
	must(t, env.cache.Refresh(t.Context()))
	m = waitForEntryChange(v)
	if !m.FederatedBundlesSet || len(m.FederatedBundles) != 0 {
		t.Fatalf("no entry federates any more but the federated set is %v (set=%v)", m.FederatedBundles, m.FederatedBundlesSet)
	}
}

func TestWatchSplitsLargeSets(t *testing.T) {
	env := startWatch(t)
	var entries []*datastore.Entry
	for i := range 2500 {
		entries = append(entries, ent(fmt.Sprintf("e%04d", i), agentA, id("/w")))
	}
	create(t, env.store, entries...)
	must(t, env.cache.Refresh(t.Context()))

	v := env.watch(t, agentA)
	msgs := v.fullSet()
	if len(msgs) != 3 {
		t.Fatalf("2500 entries came in %d messages, want 3 of at most %d", len(msgs), maxEntriesPerMessage)
	}
	for _, m := range msgs {
		if len(m.Upserted) > maxEntriesPerMessage {
			t.Fatalf("a message holds %d entries", len(m.Upserted))
		}
	}
	if len(v.entries) != 2500 {
		t.Fatalf("agent holds %d entries, want 2500", len(v.entries))
	}
}

func TestWatchResendsTheCompleteSetPeriodically(t *testing.T) {
	env := startWatch(t, func(c *Config) { c.FullResyncInterval = 50 * time.Millisecond })
	env.written(t, ent("w1", agentA, id("/w1")))
	v := env.watch(t, agentA)
	v.fullSet()
	v.fullSet()
	if got := v.ids(); !slices.Equal(got, []string{"w1"}) {
		t.Fatalf("second complete set holds %v", got)
	}
}

func TestWatchRefusesCallersTheLookupRefuses(t *testing.T) {
	env := startWatch(t)
	stream, err := env.client.Watch(t.Context(), &agentv1.WatchRequest{})
	must(t, err)
	if _, err := stream.Recv(); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("a caller without an agent identity got %v, want PermissionDenied", err)
	}
}

func TestWatchUnsubscribesWhenTheStreamEnds(t *testing.T) {
	env := startWatch(t)
	v := env.watch(t, agentA)
	v.fullSet()
	v.cancel()
	eventually(t, "the stream's subscriptions are gone", func() bool {
		env.cache.subMu.Lock()
		defer env.cache.subMu.Unlock()
		env.bundles.mu.Lock()
		defer env.bundles.mu.Unlock()
		return len(env.cache.subs) == 0 && len(env.bundles.subs) == 0
	})
}
