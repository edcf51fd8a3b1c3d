package cache

import (
	"fmt"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
)

// benchCache holds n entries with distinct SPIFFE IDs and the selectors selectorsOf(i).
// One certificate backs every SVID: matching, not minting, is what is measured.
func benchCache(b *testing.B, n int, selectorsOf func(i int) []string) *Cache {
	ca := newCA(b, td)
	svid := ca.svid(b, "e0", "spiffe://example.org/w0")
	c := New(td, nil, nil)
	c.SetBundle(ca.bundle())
	entries := make([]*Entry, n)
	svids := make([]*X509SVID, n)
	for i := range entries {
		id := fmt.Sprintf("spiffe://example.org/w%05d", i)
		entries[i] = entry(fmt.Sprintf("e%d", i), id, selectorsOf(i)...)
		s := *svid
		s.EntryID, s.ID, s.Revision = entries[i].ID, spiffeid.RequireFromString(id), entries[i].RevisionNumber
		svids[i] = &s
	}
	c.UpdateEntries(entries, nil, true)
	c.UpdateSVIDs(svids)
	return c
}

func digest(i int) string { return fmt.Sprintf("unix:sha256:%064d", i) }

func BenchmarkMatch10kEntries(b *testing.B) {
	b.Run("workload matches one of 10k entries sharing its uid", func(b *testing.B) {
		c := benchCache(b, 10_000, func(i int) []string { return []string{"unix:uid:1000", digest(i)} })
		w := sels("unix:uid:1000", "unix:gid:1000", "unix:user:web", "unix:path:/usr/bin/web", digest(4242))
		b.ReportAllocs()
		for b.Loop() {
			if len(c.Match(w).Identities) != 1 {
				b.Fatal("no match")
			}
		}
	})
	b.Run("workload matches all 10k entries", func(b *testing.B) {
		c := benchCache(b, 10_000, func(int) []string { return []string{"unix:uid:1000"} })
		w := sels("unix:uid:1000", "unix:gid:1000", "unix:user:web", "unix:path:/usr/bin/web", digest(1))
		b.ReportAllocs()
		for b.Loop() {
			if len(c.Match(w).Identities) != 10_000 {
				b.Fatal("not all matched")
			}
		}
	})
}

// The minter asks for due SVIDs every second; an agent holding 100,000 fresh ones should
// not pay a walk of all of them each time.
func BenchmarkDue100kFreshSVIDs(b *testing.B) {
	c := benchCache(b, 100_000, func(i int) []string { return []string{"unix:uid:1000"} })
	now := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		if len(c.Due(now)) != 0 {
			b.Fatal("fresh SVIDs due")
		}
	}
}
