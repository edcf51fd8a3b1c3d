package entrycache

import (
	"fmt"
	"strings"
	"testing"

	"github.com/lanyard-dev/lanyard/attestors"
	"github.com/lanyard-dev/lanyard/server/datastore"
)

// An agent whose entries together exceed gRPC's default 4 MiB receive limit (the test's
// client keeps it) still gets all of them, as a complete set and as a change: fewer than
// maxEntriesPerMessage entries, so only the byte bound splits them.
func TestWatchSplitsSetsLargerThanTheReceiveLimit(t *testing.T) {
	env := startWatch(t)
	big := strings.Repeat("x", 8<<10)
	var entries []*datastore.Entry
	for i := range 600 { // 600 × 8 KiB: about 4.7 MiB
		entries = append(entries, ent(fmt.Sprintf("e%04d", i), agentA, id("/w"),
			attestors.Selector{Type: "unix", Value: fmt.Sprintf("path:/%d/%s", i, big)}))
	}
	create(t, env.store, entries...)
	must(t, env.cache.Refresh(t.Context()))

	v := env.watch(t, agentA)
	if msgs := v.fullSet(); len(msgs) < 5 {
		t.Fatalf("4.7 MiB of entries came in %d messages; want them split at about 1 MiB", len(msgs))
	}
	if len(v.entries) != 600 {
		t.Fatalf("agent holds %d entries, want 600", len(v.entries))
	}

	var more []*datastore.Entry
	for i := range 600 {
		more = append(more, ent(fmt.Sprintf("f%04d", i), agentA, id("/w"),
			attestors.Selector{Type: "unix", Value: fmt.Sprintf("path:/f%d/%s", i, big)}))
	}
	create(t, env.store, more...)
	must(t, env.cache.Refresh(t.Context()))
	eventually(t, "the agent to hold all 1200 entries", func() bool {
		select {
		case err := <-v.errc:
			t.Fatalf("the stream failed: %v", err)
		default:
		}
		for len(v.msgs) > 0 {
			v.next()
		}
		return len(v.entries) == 1200
	})
}
