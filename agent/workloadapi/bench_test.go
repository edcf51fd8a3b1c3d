package workloadapi

import (
	"context"
	"fmt"
	"runtime"
	"testing"

	wlapi "github.com/spiffe/go-spiffe/v2/workloadapi"

	"github.com/lanyard-dev/lanyard/agent/cache"
	"github.com/lanyard-dev/lanyard/attestors"
)

// BenchmarkFetchX509SVID measures whole round trips through the go-spiffe client:
// stream setup, peer credentials, unix attestation (with the cached digest), cache match
// and the response, from 8 concurrent workloads each on its own connection.
func BenchmarkFetchX509SVID(b *testing.B) {
	for _, others := range []int{0, 10_000} {
		b.Run(fmt.Sprintf("%d other entries", others), func(b *testing.B) {
			e := start(b)
			e.add("mine", "spiffe://example.org/web", nil, selfUID)
			if others > 0 {
				addOthers(b, e, others)
			}
			b.SetParallelism(max(1, 8/runtime.GOMAXPROCS(0)))
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				c, err := wlapi.New(context.Background(), wlapi.WithAddr(e.addr))
				if err != nil {
					b.Error(err)
					return
				}
				defer c.Close()
				for pb.Next() {
					x, err := c.FetchX509Context(context.Background())
					if err != nil || len(x.SVIDs) != 1 {
						b.Errorf("fetch: %v", err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "fetches/s")
		})
	}
}

// addOthers fills the cache with entries for other workloads, sharing one SVID.
func addOthers(b *testing.B, e *env, n int) {
	proto := e.ca.svid(b, "x", "spiffe://example.org/other")
	entries := make([]*cache.Entry, n)
	svids := make([]*cache.X509SVID, n)
	for i := range entries {
		entries[i] = &cache.Entry{ID: fmt.Sprintf("other-%d", i), SPIFFEID: proto.ID.String(), RevisionNumber: 1,
			Selectors: []attestors.Selector{{Type: "unix", Value: selfUID}, {Type: "unix", Value: fmt.Sprintf("sha256:%064d", i)}}}
		s := *proto
		s.EntryID = entries[i].ID
		svids[i] = &s
	}
	e.cache.UpdateEntries(entries, nil, false)
	e.cache.UpdateSVIDs(svids)
}
