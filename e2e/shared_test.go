package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lanyard-dev/lanyard/internal/freeport"
	"github.com/lanyard-dev/lanyard/server/datastore/postgres/pgtest"
)

// postgresConfig starts a throwaway PostgreSQL cluster and returns the server configuration
// (YAML) of a fresh database on it.
func postgresConfig(t *testing.T) string {
	url := pgtest.Start(t).NewDatabase(t)
	return fmt.Sprintf("datastore:\n  type: postgres\n  connection_string: %q\n  max_open_conns: 5\n", url)
}

// workloadCAs counts the X.509 authorities of its own trust domain that a workload running
// as uid receives; 0 when it gets none.
func workloadCAs(t *testing.T, d *domain, uid int) int {
	dir := filepath.Join(sharedDir(t), "out")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(dir, uid, uid); err != nil {
		t.Fatal(err)
	}
	if _, err := run(t, "lanyard-agent", uid, nil, "api", "fetch", "x509", "-socketPath", d.socket, "-write", dir, "-timeout", "2s"); err != nil {
		return 0
	}
	pem, err := os.ReadFile(filepath.Join(dir, "bundle.0.pem"))
	if err != nil {
		return 0
	}
	return strings.Count(string(pem), "BEGIN CERTIFICATE")
}

// twoServers starts two servers of one trust domain on one new PostgreSQL database.
func twoServers(t *testing.T) (a, b *domain) {
	ds := postgresConfig(t)
	a, b = newDomainWith(t, "shared.example", ds), newDomainWith(t, "shared.example", ds)
	a.startServer()
	b.startServer()
	return a, b
}

// kill9 kills the server with SIGKILL, so nothing of it gets to clean up, and waits for it.
func (d *domain) kill9() {
	d.t.Helper()
	if err := d.server.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		d.t.Fatal(err)
	}
	<-d.server.done
}

// TestAgentFailsOverBetweenServersSharingPostgres runs two servers on one database and an
// agent that knows both. The second server joins after the agent started, so its CA reaches
// the agent only through the shared bundle; entries made on it reach the agent through the
// first, and when the first is killed, workloads keep getting rotated SVIDs through the
// second.
func TestAgentFailsOverBetweenServersSharingPostgres(t *testing.T) {
	requireRoot(t)
	ds := postgresConfig(t)
	a, b := newDomainWith(t, "shared.example", ds), newDomainWith(t, "shared.example", ds)
	a.startServer()
	// a is first in the list, so the agent starts out on a.
	a.agentExtra = fmt.Sprintf("server_address: ['127.0.0.1:%d', '127.0.0.1:%d']\n", a.serverPort, b.serverPort)
	a.startAgent()
	b.startServer()
	b.agentID, b.socket = a.agentID, a.socket
	b.entry("rotating", uidRotating, "-x509SVIDTTL", "10") // made on b, served through a
	eventually(t, 30*time.Second, "the workload's SVID and, in its bundle, the second server's CA", func() bool {
		return workloadCAs(t, a, uidRotating) == 2
	})
	w := a.workload(uidRotating, "watch")
	serials := func() int {
		seen := map[string]bool{}
		for _, l := range lines(w.Output(), "update ") {
			for _, f := range strings.Fields(l)[1:] {
				seen[f] = true
			}
		}
		return len(seen)
	}
	eventually(t, 40*time.Second, "the workload's SVID from an entry made on the other server, rotated once", func() bool {
		return serials() >= 2
	})

	a.kill9()
	before := serials()
	eventually(t, 60*time.Second, "two more rotations after the first server was killed", func() bool {
		return serials() >= before+2
	})
	b.entry("late", uidLate)
	eventually(t, 30*time.Second, "an entry made after the failover to reach the workload", func() bool {
		out, err := run(t, "lanyard-agent", uidLate, nil, "api", "fetch", "x509", "-socketPath", a.socket, "-timeout", "2s")
		return err == nil && strings.Contains(out, b.id("late"))
	})
	select {
	case <-w.done:
		t.Fatalf("the watching workload exited during the failover:\n%s", w.Output())
	default:
	}
}

// TestWorkloadsOfAgentsOnDifferentServersTrustEachOther has each agent on its own server of
// two sharing a database, so each workload's SVID is signed by a different server's CA:
// mTLS and JWT-SVIDs work across them through the shared bundle.
func TestWorkloadsOfAgentsOnDifferentServersTrustEachOther(t *testing.T) {
	requireRoot(t)
	a, b := twoServers(t)
	if n := strings.Count(b.cli("bundle", "show"), "BEGIN CERTIFICATE"); n != 2 {
		t.Fatalf("the shared bundle holds %d CA certificates, want one from each server", n)
	}
	a.startAgent()
	b.startAgent()
	a.entry("billing", uidBilling)
	b.entry("frontend", uidFrontend)
	addr := fmt.Sprintf("127.0.0.1:%d", freeport.Loopback(t))
	billing := a.workload(uidBilling, "serve", "-addr", addr, "-allow", a.id("frontend"))
	eventually(t, 30*time.Second, "billing listening", func() bool { return strings.Contains(billing.Output(), "listening") })

	var out string
	eventually(t, 30*time.Second, "the frontend (through the second server) to complete mTLS with billing (through the first)", func() bool {
		var err error
		out, err = b.runWorkload(uidFrontend, "dial", "-addr", addr, "-expect", a.id("billing"), "-message", "invoice 7")
		return err == nil
	})
	if !strings.Contains(out, "hello "+a.id("frontend")) {
		t.Fatalf("reply does not name the frontend's SPIFFE ID: %q", out)
	}
	token, err := b.runWorkload(uidFrontend, "jwt", "-audience", "billing")
	if err != nil {
		t.Fatal(err)
	}
	if out, err := a.runWorkload(uidBilling, "validate", "-audience", "billing", "-token", strings.TrimSpace(token)); err != nil || !strings.Contains(out, "valid "+a.id("frontend")) {
		t.Fatalf("the second server's JWT-SVID did not validate through the first server's agent: %q, %v", out, err)
	}
}
