package cache

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

func next(t *testing.T, s *Subscription) *WorkloadUpdate {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	u, err := s.Next(ctx)
	if err != nil {
		t.Fatalf("Next: %v", err)
	}
	return u
}

func TestSubscriptionDeliversTheCurrentStateAtOnce(t *testing.T) {
	ca := newCA(t, td)
	c := withSVIDs(t, ca, entry("e1", "spiffe://example.org/a", "unix:uid:1"))
	s := c.Subscribe(sels("unix:uid:1"))
	defer s.Close()
	if got := ids(next(t, s)); len(got) != 1 || got[0] != "e1" {
		t.Fatalf("first update %q", got)
	}
}

func TestSubscriptionFollowsChanges(t *testing.T) {
	ca := newCA(t, td)
	other := newCA(t, td)
	tests := []struct {
		name   string
		change func(t *testing.T, c *Cache)
		check  func(t *testing.T, u *WorkloadUpdate)
	}{
		{
			name:   "a rotated SVID is pushed",
			change: func(t *testing.T, c *Cache) { c.UpdateSVIDs([]*X509SVID{ca.svid(t, "e1", "spiffe://example.org/a")}) },
			check: func(t *testing.T, u *WorkloadUpdate) {
				if len(u.Identities) != 1 || u.Identities[0].SVID.SerialNumber.Int64() != serial {
					t.Fatal("update does not carry the rotated SVID")
				}
			},
		},
		{
			name: "a new matching entry is pushed once it has an SVID",
			change: func(t *testing.T, c *Cache) {
				c.UpdateEntries([]*Entry{entry("e2", "spiffe://example.org/b", "unix:uid:1")}, nil, false)
				c.UpdateSVIDs([]*X509SVID{ca.svid(t, "e2", "spiffe://example.org/b")})
			},
			check: func(t *testing.T, u *WorkloadUpdate) {
				if len(u.Identities) != 2 {
					t.Fatalf("identities %q, want e1 and e2", ids(u))
				}
			},
		},
		{
			name:   "a removed entry disappears",
			change: func(t *testing.T, c *Cache) { c.UpdateEntries(nil, []string{"e1"}, false) },
			check: func(t *testing.T, u *WorkloadUpdate) {
				if len(u.Identities) != 0 {
					t.Fatalf("identities %q after removal", ids(u))
				}
			},
		},
		{
			name:   "a new trust bundle is pushed",
			change: func(t *testing.T, c *Cache) { c.SetBundle(other.bundle()) },
			check: func(t *testing.T, u *WorkloadUpdate) {
				if !u.Bundle.Bundle.Equal(other.bundle()) {
					t.Fatal("update carries the old bundle")
				}
			},
		},
		{
			name: "changes that do not concern the workload are skipped",
			change: func(t *testing.T, c *Cache) {
				c.UpdateEntries([]*Entry{entry("x", "spiffe://example.org/x", "unix:uid:2")}, nil, false)
				c.UpdateSVIDs([]*X509SVID{ca.svid(t, "x", "spiffe://example.org/x")})
				c.SetBundle(ca.bundle()) // unchanged
				c.UpdateEntries([]*Entry{entry("e1", "spiffe://example.org/a", "unix:uid:1")}, nil, false)
				// Only this one matters:
				c.UpdateEntries([]*Entry{entry("e1", "spiffe://example.org/renamed", "unix:uid:1")}, nil, false)
			},
			check: func(t *testing.T, u *WorkloadUpdate) {
				if len(u.Identities) != 0 {
					t.Fatalf("first update after the change has %q; want the renamed entry withheld", ids(u))
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := withSVIDs(t, ca, entry("e1", "spiffe://example.org/a", "unix:uid:1"))
			s := c.Subscribe(sels("unix:uid:1", "unix:gid:1"))
			defer s.Close()
			next(t, s)
			tt.change(t, c)
			tt.check(t, next(t, s))
		})
	}
}

func TestSlowSubscriberGetsTheLatestStateAndNeverBlocksWriters(t *testing.T) {
	ca := newCA(t, td)
	c := withSVIDs(t, ca, entry("e1", "spiffe://example.org/a", "unix:uid:1"))
	s := c.Subscribe(sels("unix:uid:1"))
	defer s.Close()
	next(t, s)
	var last *X509SVID
	for range 50 {
		last = ca.svid(t, "e1", "spiffe://example.org/a")
		c.UpdateSVIDs([]*X509SVID{last})
	}
	if u := next(t, s); u.Identities[0].SVID != last {
		t.Fatal("a late reader did not get the newest SVID")
	}
}

func TestClosedSubscriptionEnds(t *testing.T) {
	c := New(td, nil, nil)
	s := c.Subscribe(sels("unix:uid:1"))
	next(t, s)
	s.Close()
	s.Close()
	if _, err := s.Next(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("Next after Close: %v", err)
	}
}

func TestConcurrentWritersAndSubscribers(t *testing.T) {
	ca := newCA(t, td)
	c := withSVIDs(t, ca, entry("e0", "spiffe://example.org/w0", "unix:uid:1"))
	svids := make([]*X509SVID, 20)
	for i := range svids {
		svids[i] = ca.svid(t, fmt.Sprintf("e%d", i), fmt.Sprintf("spiffe://example.org/w%d", i))
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := c.Subscribe(sels("unix:uid:1"))
			defer s.Close()
			for {
				if _, err := s.Next(ctx); err != nil {
					return
				}
			}
		}()
	}
	for i := range 200 {
		n := i % 20
		c.UpdateEntries([]*Entry{entry(fmt.Sprintf("e%d", n), fmt.Sprintf("spiffe://example.org/w%d", n), "unix:uid:1")}, nil, false)
		c.UpdateSVIDs([]*X509SVID{svids[n]})
		if i%7 == 0 {
			c.UpdateEntries(nil, []string{fmt.Sprintf("e%d", (n+3)%20)}, false)
		}
		_ = c.Match(sels("unix:uid:1"))
	}
	cancel()
	wg.Wait()
	// Whatever the interleaving, the final state is served.
	s := c.Subscribe(sels("unix:uid:1"))
	defer s.Close()
	if u := next(t, s); len(u.Identities) != len(c.Match(sels("unix:uid:1")).Identities) {
		t.Fatal("subscription and Match disagree")
	}
}
