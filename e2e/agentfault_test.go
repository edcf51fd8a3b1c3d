package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

const (
	uidSteady  = 41010
	uidSurvive = 41011
)

// fetches runs X.509-SVID and JWT-SVID fetches as uid until stop passes and counts the
// failed ones.
func (d *domain) fetches(uid int, name string, stop time.Time) (x509Failed, jwtFailed, total int) {
	d.t.Helper()
	for time.Now().Before(stop) {
		out, err := run(d.t, "lanyard-agent", uid, nil, "api", "fetch", "x509", "-socketPath", d.socket, "-timeout", "2s")
		if err != nil || !strings.Contains(out, d.id(name)) {
			x509Failed++
			d.t.Logf("X.509 fetch failed during the outage: %v", err)
		}
		if _, err := run(d.t, "lanyard-agent", uid, nil, "api", "fetch", "jwt", "-audience", "outage", "-socketPath", d.socket); err != nil {
			jwtFailed++
			d.t.Logf("JWT fetch failed during the outage: %v", err)
		}
		total++
	}
	return x509Failed, jwtFailed, total
}

// TestServerOutageCostsWorkloadsNothing kills the server with SIGKILL while workloads
// fetch X.509-SVIDs and JWT-SVIDs, long enough for the JWT-SVID to pass half its lifetime:
// no fetch fails, and after the restart a new entry reaches the agent's open stream.
func TestServerOutageCostsWorkloadsNothing(t *testing.T) {
	requireRoot(t)
	d := newDomainWith(t, "outage2.example", "default_jwt_svid_ttl: 20s\n")
	d.startServer()
	d.startAgent()
	d.entry("steady", uidSteady, "-x509SVIDTTL", "120")
	eventually(t, 30*time.Second, "the steady SVID", func() bool {
		out, err := run(t, "lanyard-agent", uidSteady, nil, "api", "fetch", "x509", "-socketPath", d.socket, "-timeout", "2s")
		return err == nil && strings.Contains(out, d.id("steady"))
	})
	// A JWT-SVID minted now, valid 20s, is refreshed after 10s: during the outage.
	if _, err := run(t, "lanyard-agent", uidSteady, nil, "api", "fetch", "jwt", "-audience", "outage", "-socketPath", d.socket); err != nil {
		t.Fatal(err)
	}
	d.kill9()
	x509Failed, jwtFailed, rounds := d.fetches(uidSteady, "steady", time.Now().Add(14*time.Second))
	t.Logf("during a 14s outage: %d of %d X.509 fetches and %d of %d JWT fetches failed", x509Failed, rounds, jwtFailed, rounds)
	if x509Failed+jwtFailed > 0 {
		t.Fatalf("%d X.509 and %d JWT fetches failed during the outage, want 0", x509Failed, jwtFailed)
	}

	d.startServer()
	answered := time.Now()
	d.entry("late", uidLate)
	eventually(t, 30*time.Second, "the late entry's SVID after the restart", func() bool {
		out, err := run(t, "lanyard-agent", uidLate, nil, "api", "fetch", "x509", "-socketPath", d.socket, "-timeout", "2s")
		return err == nil && strings.Contains(out, d.id("late"))
	})
	t.Logf("a new entry's SVID was served %s after the restarted server answered", time.Since(answered).Round(10*time.Millisecond))
	if l := lines(d.agent.Output(), "time="); len(l) > 0 {
		for _, line := range l {
			if strings.Contains(line, "entry stream is back") {
				t.Logf("agent: %s", line)
			}
		}
	}
}

// TestUnsavableRenewalSurvivesKill9 replaces the agent's data_dir by a file while it renews
// its SVID (root writes through any mode bits, not into a file), kills the agent with
// SIGKILL, puts the directory back and restarts it: it is the same agent, without a new
// join token (the configured one is used up).
func TestUnsavableRenewalSurvivesKill9(t *testing.T) {
	requireRoot(t)
	d := newDomainWith(t, "survive.example", "agent_ttl: 30s\n")
	d.startServer()
	d.startAgent()
	d.entry("svc", uidSurvive)
	served := func() bool {
		out, err := run(t, "lanyard-agent", uidSurvive, nil, "api", "fetch", "x509", "-socketPath", d.socket, "-timeout", "2s")
		return err == nil && strings.Contains(out, d.id("svc"))
	}
	eventually(t, 30*time.Second, "the svc SVID", served)

	dataDir := filepath.Join(d.dir, "agent-data")
	moved := dataDir + ".moved"
	if err := os.Rename(dataDir, moved); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dataDir, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "the agent to renew and fail to save", func() bool {
		out := d.agent.Output()
		return strings.Contains(out, "saving") && strings.Contains(out, "renewed agent SVID")
	})
	// Whatever SVID the agent now uses, it has used it by the time a new entry arrives.
	d.entry("after", uidLate)
	eventually(t, 30*time.Second, "an entry made after the failed save", func() bool {
		out, err := run(t, "lanyard-agent", uidLate, nil, "api", "fetch", "x509", "-socketPath", d.socket, "-timeout", "2s")
		return err == nil && strings.Contains(out, d.id("after"))
	})
	if err := d.agent.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-d.agent.done
	if err := os.Remove(dataDir); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(moved, dataDir); err != nil {
		t.Fatal(err)
	}
	d.agent = start(t, "lanyard-agent", 0, nil, "run", "-config", filepath.Join(d.dir, "agent.yaml"))
	eventually(t, 30*time.Second, "the restarted agent to serve svc", served)
	if strings.Contains(d.agent.Output(), "node attested") {
		t.Fatalf("the restarted agent attested again instead of keeping its identity:\n%s", d.agent.Output())
	}
	eventually(t, 30*time.Second, "the restarted agent to renew its SVID", func() bool {
		return strings.Contains(d.agent.Output(), "agent SVID renewed")
	})
}
