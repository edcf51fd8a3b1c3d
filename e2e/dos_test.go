package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Issue 12 item 10 with real processes: uid 65534, with no entries, holds 10,000
// Workload API connections to a real agent whose open file limit is 16,384. The agent
// keeps its per-uid share and closes the rest; a workload of another uid gets its SVID
// (the workload gives up after 15 s, as in the report).
func TestOneUIDHoldingConnectionsDoesNotStarveOtherWorkloads(t *testing.T) {
	requireRoot(t)
	const flood, nobody = 10000, 65534
	d := newDomain(t, "dos.example")
	d.startServer()
	d.startAgent()
	d.entry("billing", uidBilling)
	// Without caps, 10,000 connections (a socket and a pidfd each) would need 20,000.
	lim := unix.Rlimit{Cur: 16384, Max: 16384}
	if err := unix.Prlimit(d.agent.cmd.Process.Pid, unix.RLIMIT_NOFILE, &lim, nil); err != nil {
		t.Fatalf("lowering the agent's open file limit: %v", err)
	}

	flooder := d.workload(nobody, "hold", "-n", fmt.Sprint(flood))
	eventually(t, 2*time.Minute, "the flooding process to hold its connections", func() bool {
		return strings.Contains(flooder.Output(), fmt.Sprintf("held %d", flood))
	})

	began := time.Now()
	out, err := d.runWorkload(uidBilling, "x509")
	t.Logf("another uid's X.509-SVID fetch during the flood took %v", time.Since(began)) // a figure, not an assertion
	if err != nil {
		t.Fatalf("a workload of another uid got no SVID during the flood: %v", err)
	}
	if !strings.Contains(out, "svid "+d.id("billing")) {
		t.Fatalf("fetched %q, want billing's SVID", out)
	}
}
