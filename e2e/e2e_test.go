package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/lanyard-dev/lanyard/internal/freeport"
)

const (
	uidBilling  = 41001
	uidFrontend = 41002
	uidOutsider = 41003
	uidRotating = 41004
	uidLate     = 41005
)

// TestWorkloadsGetIdentitiesAndTalkMTLS walks through what a user does first: run a server
// and an agent, register workloads, and have them authenticate each other.
func TestWorkloadsGetIdentitiesAndTalkMTLS(t *testing.T) {
	requireRoot(t)
	d := newDomain(t, "e2e.example")
	d.startServer()
	d.startAgent()
	d.entry("billing", uidBilling)
	frontendEntry := d.entry("frontend", uidFrontend)
	d.entry("outsider", uidOutsider)
	port := freeport.Loopback(t)
	addr := fmt.Sprintf("127.0.0.1:%d", port)

	billing := d.workload(uidBilling, "serve", "-addr", addr, "-allow", d.id("frontend"))
	eventually(t, 30*time.Second, "billing listening", func() bool { return strings.Contains(billing.Output(), "listening") })

	t.Run("frontend and billing authenticate each other with mTLS", func(t *testing.T) {
		out, err := d.runWorkload(uidFrontend, "dial", "-addr", addr, "-expect", d.id("billing"), "-message", "invoice 42")
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(out, "hello "+d.id("frontend")) {
			t.Fatalf("reply does not name the frontend's SPIFFE ID: %q", out)
		}
		eventually(t, 10*time.Second, "billing saw the frontend", func() bool {
			return strings.Contains(billing.Output(), "request from "+d.id("frontend")+": invoice 42")
		})
	})

	t.Run("a workload billing does not authorize is refused", func(t *testing.T) {
		if _, err := d.runWorkload(uidOutsider, "dial", "-addr", addr, "-expect", d.id("billing")); err == nil {
			t.Fatal("outsider completed mTLS with billing, which only allows the frontend")
		}
	})

	t.Run("a client expecting another server ID refuses billing", func(t *testing.T) {
		if _, err := d.runWorkload(uidFrontend, "dial", "-addr", addr, "-expect", d.id("someone-else")); err == nil {
			t.Fatal("frontend accepted billing while expecting another ID")
		}
	})

	t.Run("a JWT-SVID from the frontend validates at billing", func(t *testing.T) {
		token, err := d.runWorkload(uidFrontend, "jwt", "-audience", "billing")
		if err != nil {
			t.Fatal(err)
		}
		out, err := d.runWorkload(uidBilling, "validate", "-audience", "billing", "-token", strings.TrimSpace(token))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(out, "valid "+d.id("frontend")) {
			t.Fatalf("validation did not name the frontend: %q", out)
		}
		if _, err := d.runWorkload(uidBilling, "validate", "-audience", "payroll", "-token", strings.TrimSpace(token)); err == nil {
			t.Fatal("a JWT-SVID for audience billing validated for audience payroll")
		}
	})

	t.Run("a process with no entry gets no identity", func(t *testing.T) {
		if _, err := d.runWorkload(41999, "jwt", "-audience", "billing"); err == nil {
			t.Fatal("unregistered uid obtained a JWT-SVID")
		}
	})

	t.Run("deleting an entry removes the identity from an open stream", func(t *testing.T) {
		w := d.workload(uidFrontend, "watch")
		eventually(t, 10*time.Second, "frontend watch update", func() bool {
			return strings.Contains(w.Output(), "update "+d.id("frontend")+"=")
		})
		d.cli("entry", "delete", "-entryID", frontendEntry)
		eventually(t, 10*time.Second, "frontend stream to lose its identity", func() bool {
			out := w.Output()
			return strings.Contains(out, "lost") || strings.HasSuffix(strings.TrimSpace(out), "update")
		})
		if _, err := d.runWorkload(uidFrontend, "dial", "-addr", addr, "-expect", d.id("billing")); err == nil {
			t.Fatal("frontend still completed mTLS after its entry was deleted")
		}
	})
}

// TestRotationAndServerOutage checks SVIDs rotate before expiry and that the agent keeps
// serving while the server is down, then picks up new entries after it returns.
func TestRotationAndServerOutage(t *testing.T) {
	requireRoot(t)
	d := newDomain(t, "outage.example")
	d.startServer()
	d.startAgent()
	d.entry("rotating", uidRotating, "-x509SVIDTTL", "10")
	w := d.workload(uidRotating, "watch")

	serials := func() map[string]bool {
		seen := map[string]bool{}
		for _, l := range lines(w.Output(), "update ") {
			for _, f := range strings.Fields(l)[1:] {
				seen[f] = true
			}
		}
		return seen
	}
	eventually(t, 30*time.Second, "the 10s SVID to be rotated at least twice", func() bool { return len(serials()) >= 3 })

	t.Run("cached SVIDs are served while the server is down", func(t *testing.T) {
		d.server.stop()
		out, err := run(t, "lanyard-agent", uidRotating, nil, "api", "fetch", "x509", "-socketPath", d.socket)
		if err != nil {
			t.Fatalf("X.509-SVID not served during the outage: %v", err)
		}
		if !strings.Contains(out, d.id("rotating")) {
			t.Fatalf("fetch during outage did not return the cached SVID: %q", out)
		}
	})

	t.Run("after the server returns, new entries reach the agent", func(t *testing.T) {
		d.startServer()
		d.entry("late", uidLate)
		eventually(t, 30*time.Second, "the late entry's SVID", func() bool {
			out, err := run(t, "lanyard-agent", uidLate, nil, "api", "fetch", "x509", "-socketPath", d.socket, "-timeout", "2s")
			return err == nil && strings.Contains(out, d.id("late"))
		})
	})
}

// TestEvictedAgentStopsAndSaysWhy checks an agent the server evicts does not linger:
// its open streams are cut and it exits with a message an operator can act on.
func TestEvictedAgentStopsAndSaysWhy(t *testing.T) {
	requireRoot(t)
	d := newDomain(t, "evict.example")
	d.startServer()
	d.startAgent()
	d.entry("svc", uidRotating)
	eventually(t, 30*time.Second, "the agent to serve svc", func() bool {
		out, err := run(t, "lanyard-agent", uidRotating, nil, "api", "fetch", "x509", "-socketPath", d.socket, "-timeout", "2s")
		return err == nil && strings.Contains(out, d.id("svc"))
	})
	d.cli("agent", "evict", "-spiffeID", d.agentID)
	select {
	case <-d.agent.done:
	case <-time.After(30 * time.Second):
		t.Fatal("the evicted agent kept running")
	}
	if !strings.Contains(d.agent.Output(), "evicted or banned") {
		t.Fatalf("the agent did not say why it stopped:\n%s", d.agent.Output())
	}
}
