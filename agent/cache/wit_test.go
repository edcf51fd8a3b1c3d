package cache

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
)

func witFor(e *Entry, issued time.Time, ttl time.Duration, kid string) *WITSVID {
	return &WITSVID{EntryID: e.ID, ID: spiffeid.RequireFromString(e.SPIFFEID), Revision: e.RevisionNumber,
		IssuedAt: issued, ExpiresAt: issued.Add(ttl), Kid: kid, Token: "token-" + e.ID + "-" + kid, KeyJWK: "{}"}
}

func dueWITIDs(c *Cache, now time.Time) []string {
	var out []string
	for _, e := range c.DueWIT(now) {
		out = append(out, e.ID)
	}
	return out
}

// WIT-SVIDs follow X.509-SVIDs' renewal rule and are due on their own: an entry with a
// fresh X.509-SVID and no WIT-SVID is due for a WIT-SVID only.
func TestDueWITNamesMissingAndStaleWITSVIDs(t *testing.T) {
	now := time.Now()
	e, other := entry("e", "spiffe://example.org/e", "unix:uid:1"), entry("f", "spiffe://example.org/f", "unix:uid:1")
	c := New(td, nil, nil)
	c.UpdateEntries([]*Entry{e, other}, nil, true)
	sub := c.SubscribeWIT(sels("unix:uid:1")) // a workload asks for them
	defer sub.Close()
	fx := newCA(t, td).svid(t, "f", "spiffe://example.org/f")
	fx.Revision = 1
	c.UpdateSVIDs([]*X509SVID{fx})
	c.UpdateWITSVIDs([]*WITSVID{witFor(e, now, time.Hour, "k1")})
	if got := dueWITIDs(c, now.Add(29*time.Minute)); !slices.Equal(got, []string{"f"}) {
		t.Fatalf("due WIT before half life: %v; want [f] (it has only an X.509-SVID)", got)
	}
	if got := dueIDs(c, now); !slices.Equal(got, []string{"e"}) {
		t.Fatalf("due X.509 = %v; want [e]: a WIT-SVID does not stand in for an X.509-SVID", got)
	}
	if got := dueWITIDs(c, now.Add(31*time.Minute)); !slices.Equal(got, []string{"e", "f"}) {
		t.Fatalf("due WIT past half life: %v; want [e f]", got)
	}
	c.SetTaintedWIT(map[string]bool{"k1": true})
	if got := dueWITIDs(c, now); !slices.Equal(got, []string{"e", "f"}) {
		t.Fatalf("due WIT with its signer tainted: %v; want [e f]", got)
	}
	c.SetTaintedWIT(nil)
	e2 := *e
	e2.RevisionNumber = 2
	c.UpdateEntries([]*Entry{&e2}, nil, false)
	if got := dueWITIDs(c, now); !slices.Equal(got, []string{"e", "f"}) {
		t.Fatalf("due WIT after the entry changed: %v; want [e f]", got)
	}
}

func TestWorkloadsSeeTheirUnexpiredWITSVIDs(t *testing.T) {
	now := time.Now()
	a, b := entry("a", "spiffe://example.org/a", "unix:uid:1"), entry("b", "spiffe://example.org/b", "unix:uid:1", "unix:gid:2")
	a.Hint, b.Hint = "same", "same"
	c := New(td, nil, nil)
	c.UpdateEntries([]*Entry{a, b, entry("x", "spiffe://example.org/x", "unix:uid:9")}, nil, true)
	sub := c.Subscribe(sels("unix:uid:1", "unix:gid:2"))
	defer sub.Close()
	first, err := sub.Next(context.Background())
	if err != nil || len(first.WITs) != 0 {
		t.Fatalf("before any WIT-SVID: %v %v", first, err)
	}
	wa := witFor(a, now, time.Hour, "k")
	c.UpdateWITSVIDs([]*WITSVID{wa, witFor(b, now, time.Hour, "k"), witFor(entry("x", "spiffe://example.org/x"), now, time.Hour, "k")})
	u, err := sub.Next(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(u.WITs) != 1 || u.WITs[0].SVID != wa || len(u.Identities) != 0 {
		t.Fatalf("WITs %v, identities %v; want a's WIT-SVID only (b shares its hint) and no X.509-SVID", u.WITs, u.Identities)
	}
	if u.SameX509(first) != true {
		t.Fatal("a WIT-SVID changed what an X.509 stream serves")
	}
	expired := New(td, nil, nil)
	expired.UpdateEntries([]*Entry{a}, nil, true)
	expired.UpdateWITSVIDs([]*WITSVID{witFor(a, now.Add(-2*time.Hour), time.Hour, "k")})
	if got := expired.Match(sels("unix:uid:1")).WITs; len(got) != 0 {
		t.Fatalf("an expired WIT-SVID is served: %v", got)
	}
}

// WIT-SVIDs are minted only for entries a workload has asked them of: none is due until a
// workload subscribes for WIT-SVIDs, then its entries are (the minter is told at once),
// and so is an entry added later that it matches; other workloads' entries never are. The
// subscriber's update says a WIT-SVID is on its way until it arrives, and stops saying so
// when the server turns out to issue none.
func TestWITSVIDsAreDueOnlyForEntriesAWorkloadAskedFor(t *testing.T) {
	now := time.Now()
	mine, theirs := entry("a", "spiffe://example.org/a", "unix:uid:1"), entry("x", "spiffe://example.org/x", "unix:uid:9")
	c := New(td, nil, nil)
	c.UpdateEntries([]*Entry{mine, theirs}, nil, true)
	if got := dueWITIDs(c, now); len(got) != 0 {
		t.Fatalf("WIT-SVIDs due before any workload asked: %v", got)
	}
	x509Only := c.Subscribe(sels("unix:uid:1"))
	defer x509Only.Close()
	if got := dueWITIDs(c, now); len(got) != 0 {
		t.Fatalf("WIT-SVIDs due for an X.509 subscriber: %v", got)
	}
	sub := c.SubscribeWIT(sels("unix:uid:1"))
	defer sub.Close()
	select {
	case <-c.WITWanted():
	default:
		t.Fatal("the minter was not told that a workload wants WIT-SVIDs")
	}
	if got := dueWITIDs(c, now); !slices.Equal(got, []string{"a"}) {
		t.Fatalf("due WIT after a workload asked: %v; want [a]", got)
	}
	u, err := sub.Next(context.Background())
	if err != nil || !u.WITPending || len(u.WITs) != 0 {
		t.Fatalf("first update %+v (%v); want a pending WIT-SVID", u, err)
	}
	later := entry("b", "spiffe://example.org/b", "unix:uid:1")
	c.UpdateEntries([]*Entry{later}, nil, false)
	if got := dueWITIDs(c, now); !slices.Equal(got, []string{"a", "b"}) {
		t.Fatalf("due WIT after a matching entry was added: %v; want [a b]", got)
	}
	wa := witFor(mine, now, time.Hour, "k")
	c.UpdateWITSVIDs([]*WITSVID{wa, witFor(later, now, time.Hour, "k")})
	u, err = sub.Next(context.Background())
	if err != nil || u.WITPending || len(u.WITs) != 2 {
		t.Fatalf("after minting: %+v (%v); want both WIT-SVIDs, none pending", u, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c.UpdateEntries([]*Entry{entry("c", "spiffe://example.org/c", "unix:uid:1")}, nil, false)
	if u, err = sub.Next(ctx); err != nil || !u.WITPending {
		t.Fatalf("after another matching entry: %+v (%v); want its WIT-SVID pending", u, err)
	}
	c.SetWITMinting(false)
	u, err = sub.Next(ctx)
	if err != nil || u.WITPending {
		t.Fatalf("with a server that issues no WIT-SVIDs: %+v (%v); want none pending", u, err)
	}
}
