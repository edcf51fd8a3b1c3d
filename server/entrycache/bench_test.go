package entrycache

import (
	"context"
	"fmt"
	"testing"
	"time"

	"google.golang.org/grpc/metadata"

	agentv1 "github.com/lanyard-dev/lanyard/proto/lanyard/agent/v1"
	"github.com/lanyard-dev/lanyard/server/datastore"
)

// populate stores total entries of which mine are authorized for agent A: A has mine/100
// direct entries, each with the rest of its share as children; the others belong to other
// agents, 100 each.
func populate(b *testing.B, store datastore.EntryStore, mine, total int) {
	b.Helper()
	start := time.Now()
	var batch []*datastore.Entry
	flush := func() {
		if len(batch) > 0 {
			create(b, store, batch...)
			batch = batch[:0]
		}
	}
	add := func(e *datastore.Entry) {
		if batch = append(batch, e); len(batch) == 5000 {
			flush()
		}
	}
	direct := max(mine/100, 1)
	for i := range mine {
		if i < direct {
			add(ent(fmt.Sprintf("a%06d", i), agentA, id(fmt.Sprintf("/a/%d", i))))
		} else {
			add(ent(fmt.Sprintf("a%06d", i), id(fmt.Sprintf("/a/%d", i%direct)), id(fmt.Sprintf("/a/%d/w%d", i%direct, i))))
		}
	}
	for i := range total - mine {
		add(ent(fmt.Sprintf("o%06d", i), fmt.Sprintf("spiffe://example.org/spire/agent/x/other-%d", i/100), id(fmt.Sprintf("/o/%d", i))))
	}
	flush()
	b.Logf("stored %d entries in %s", total, time.Since(start).Round(time.Millisecond))
}

func BenchmarkAuthorizedEntries(b *testing.B) {
	store := openStore(b)
	populate(b, store, 10_000, 100_000)
	start := time.Now()
	c := newCache(b, store, newClock())
	b.Logf("loaded %d entries into the cache in %s", c.Len(), time.Since(start).Round(time.Millisecond))
	b.Run("agent with 10k of 100k entries", func(b *testing.B) {
		for b.Loop() {
			if n := len(c.AuthorizedEntries(agentA, selsA)); n != 10_000 {
				b.Fatalf("got %d entries", n)
			}
		}
	})
	b.Run("IsAuthorized for a grandchild", func(b *testing.B) {
		for b.Loop() {
			if _, ok := c.IsAuthorized(agentA, selsA, "a009999"); !ok {
				b.Fatal("not authorized")
			}
		}
	})
}

// BenchmarkWatchPropagation measures one op as: store write, Refresh, and the diff reaching
// the agent over gRPC. The agent holds mine entries among total.
func BenchmarkWatchPropagation(b *testing.B) {
	for _, size := range []struct{ mine, total int }{{10, 100}, {10_000, 100_000}} {
		b.Run(fmt.Sprintf("agent with %d of %d entries", size.mine, size.total), func(b *testing.B) {
			env := startWatch(b)
			populate(b, env.store, size.mine, size.total)
			must(b, env.cache.Refresh(context.Background()))
			ctx := metadata.AppendToOutgoingContext(b.Context(), "agent", agentA)
			stream, err := env.client.Watch(ctx, &agentv1.WatchRequest{})
			must(b, err)
			for m, err := stream.Recv(); !m.GetFull() || m.GetMore(); m, err = stream.Recv() {
				must(b, err)
			}
			i := 0
			for b.Loop() {
				i++
				create(b, env.store, ent(fmt.Sprintf("new%d", i), agentA, id(fmt.Sprintf("/new/%d", i))))
				must(b, env.cache.Refresh(context.Background()))
				for {
					m, err := stream.Recv()
					must(b, err)
					if len(m.Upserted) == 1 && m.Upserted[0].Id == fmt.Sprintf("new%d", i) {
						break
					}
				}
			}
		})
	}
}

// BenchmarkIsAuthorizedNodeSet is an agent minting an entry parented to an ID that every
// one of 10,000 agents holds through an entry of its own (a node set): the walk up must
// not look at every agent's entry with that ID.
func BenchmarkIsAuthorizedNodeSet(b *testing.B) {
	store := openStore(b)
	var batch []*datastore.Entry
	for i := range 10_000 {
		batch = append(batch, ent(fmt.Sprintf("g%05d", i), fmt.Sprintf("spiffe://example.org/spire/agent/x/n-%d", i), id("/group")))
	}
	batch = append(batch, ent("child", id("/group"), id("/group/child")))
	create(b, store, batch...)
	c := newCache(b, store, newClock())
	for b.Loop() {
		if _, ok := c.IsAuthorized("spiffe://example.org/spire/agent/x/n-9999", nil, "child"); !ok {
			b.Fatal("not authorized")
		}
	}
}
