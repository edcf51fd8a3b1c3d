package entrycache

import (
	"slices"
	"testing"
	"time"
)

func TestAdminRightsAndPruningFollowEntryExpiry(t *testing.T) {
	store := openStore(t)
	clk := newClock()
	admin := ent("admin", agentA, id("/ops"))
	admin.Admin, admin.ExpiresAt = true, clk.Now().Add(time.Minute).Unix()
	notAdmin := ent("plain", agentA, id("/web"))
	forever := ent("forever", agentA, id("/root"))
	forever.Admin = true
	create(t, store, admin, notAdmin, forever)
	c := newCache(t, store, clk)

	for path, want := range map[string]bool{"/ops": true, "/web": false, "/root": true, "/none": false} {
		if got := c.IsAdmin(id(path)); got != want {
			t.Errorf("before expiry IsAdmin(%s) = %v, want %v", path, got, want)
		}
	}
	if got := c.Expired(); len(got) != 0 {
		t.Fatalf("before expiry Expired() = %v, want none", got)
	}
	clk.Add(time.Minute + time.Second)
	if c.IsAdmin(id("/ops")) || !c.IsAdmin(id("/root")) {
		t.Fatalf("after expiry IsAdmin(/ops) = %v, IsAdmin(/root) = %v; want false, true", c.IsAdmin(id("/ops")), c.IsAdmin(id("/root")))
	}
	if got := c.Expired(); !slices.Equal(got, []string{"admin"}) {
		t.Fatalf("after expiry Expired() = %v, want [admin]", got)
	}
}
