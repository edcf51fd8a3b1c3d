package cache

import (
	"slices"
	"testing"
	"time"
)

// dueIDs is the IDs of the entries c says are due at now.
func dueIDs(c *Cache, now time.Time) []string {
	var out []string
	for _, e := range c.Due(now) {
		out = append(out, e.ID)
	}
	return out
}

// TestDueNamesMissingAndStaleSVIDs: the cache alone decides which SVIDs the manager mints,
// so each reason an SVID must be (re)minted is checked here, and so is each reason one
// must not be.
func TestDueNamesMissingAndStaleSVIDs(t *testing.T) {
	ca := newCA(t, td)
	fresh := func(id string) *Entry { return entry(id, "spiffe://example.org/"+id, "unix:uid:1") }
	tests := []struct {
		name    string
		prepare func(c *Cache, s *X509SVID) time.Time // returns the time Due is asked at
		want    []string
	}{
		{"an SVID minted for the entry's revision, before half its life, is not due", func(_ *Cache, s *X509SVID) time.Time {
			return s.NotBefore.Add(s.ExpiresAt.Sub(s.NotBefore) / 4)
		}, nil},
		{"an entry without an SVID is due", func(c *Cache, _ *X509SVID) time.Time {
			c.UpdateEntries([]*Entry{fresh("other")}, nil, true)
			return time.Now()
		}, []string{"other"}},
		{"an SVID past half its lifetime is due", func(_ *Cache, s *X509SVID) time.Time {
			return s.NotBefore.Add(s.ExpiresAt.Sub(s.NotBefore)/2 + time.Second)
		}, []string{"e"}},
		{"an SVID minted for an older revision of the entry is due", func(c *Cache, _ *X509SVID) time.Time {
			e := fresh("e")
			e.RevisionNumber = 2
			c.UpdateEntries([]*Entry{e}, nil, false)
			return time.Now()
		}, []string{"e"}},
		{"an SVID signed by a tainted authority is due", func(c *Cache, _ *X509SVID) time.Time {
			c.SetTainted(map[string]bool{string(ca.cert.SubjectKeyId): true})
			return time.Now()
		}, []string{"e"}},
		{"an SVID is no longer due once its authority is untainted", func(c *Cache, _ *X509SVID) time.Time {
			c.SetTainted(map[string]bool{string(ca.cert.SubjectKeyId): true})
			c.SetTainted(nil)
			return time.Now()
		}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := New(td, nil, nil)
			e := fresh("e")
			c.UpdateEntries([]*Entry{e}, nil, true)
			s := ca.svid(t, "e", e.SPIFFEID)
			s.Revision = e.RevisionNumber
			c.UpdateSVIDs([]*X509SVID{s})
			now := tt.prepare(c, s)
			if got := dueIDs(c, now); !slices.Equal(got, tt.want) {
				t.Fatalf("Due = %q, want %q", got, tt.want)
			}
		})
	}
}

// Node aliases name agents: the agent never mints an SVID for one.
func TestNodeAliasesAreNeverDue(t *testing.T) {
	c := New(td, nil, nil)
	alias := &Entry{ID: "alias", SPIFFEID: "spiffe://example.org/nodes/n", ParentID: "spiffe://example.org/spire/server",
		Selectors: sels("spiffe_id:spiffe://example.org/spire/agent/x")}
	c.UpdateEntries([]*Entry{alias, entry("w", "spiffe://example.org/w", "unix:uid:1")}, nil, true)
	if got := dueIDs(c, time.Now()); !slices.Equal(got, []string{"w"}) {
		t.Fatalf("Due = %q, want only the workload entry w", got)
	}
}

// Due skips walking while it knows nothing can be due, and that never hides a due SVID:
// one turns due the moment it passes half its life, and whatever a change makes due
// (a new entry, a tainted authority, a new revision) is due at once.
func TestDueAfterAQuietWalkStillSeesEveryReasonToMint(t *testing.T) {
	ca := newCA(t, td)
	c := New(td, nil, nil)
	e := entry("e", "spiffe://example.org/e", "unix:uid:1")
	c.UpdateEntries([]*Entry{e}, nil, true)
	s := ca.svid(t, "e", e.SPIFFEID)
	s.Revision = e.RevisionNumber
	c.UpdateSVIDs([]*X509SVID{s})
	half := s.NotBefore.Add(s.ExpiresAt.Sub(s.NotBefore) / 2)
	quiet := func(at time.Time) {
		t.Helper()
		if got := dueIDs(c, at); len(got) != 0 {
			t.Fatalf("Due at %s = %q; want none", at, got)
		}
	}
	quiet(s.NotBefore)
	quiet(half)
	if got := dueIDs(c, half.Add(time.Nanosecond)); !slices.Equal(got, []string{"e"}) {
		t.Fatalf("just past half life: Due = %q, want [e]", got)
	}

	fresh := ca.svid(t, "e", e.SPIFFEID)
	fresh.Revision = e.RevisionNumber
	c.UpdateSVIDs([]*X509SVID{fresh})
	now := fresh.NotBefore.Add(time.Minute)
	quiet(now)
	c.UpdateEntries([]*Entry{entry("new", "spiffe://example.org/new", "unix:uid:1")}, nil, false)
	if got := dueIDs(c, now); !slices.Equal(got, []string{"new"}) {
		t.Fatalf("after a new entry: Due = %q, want [new]", got)
	}
	c.UpdateEntries([]*Entry{e}, []string{"new"}, false)
	quiet(now)
	c.SetTainted(map[string]bool{string(ca.cert.SubjectKeyId): true})
	if got := dueIDs(c, now); !slices.Equal(got, []string{"e"}) {
		t.Fatalf("after tainting its authority: Due = %q, want [e]", got)
	}
	c.SetTainted(nil)
	quiet(now)
	e2 := *e
	e2.RevisionNumber++
	c.UpdateEntries([]*Entry{&e2}, nil, false)
	if got := dueIDs(c, now); !slices.Equal(got, []string{"e"}) {
		t.Fatalf("after the entry changed: Due = %q, want [e]", got)
	}
}
