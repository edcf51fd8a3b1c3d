package agent

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lanyard-dev/lanyard/agent/state"
	"github.com/lanyard-dev/lanyard/internal/poll"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// savedSerial is the serial of the agent SVID in the agent's data_dir.
func savedSerial(t *testing.T, dataDir string) string {
	t.Helper()
	chain, _, err := state.Dir{Path: dataDir}.LoadSVID()
	if err != nil {
		t.Fatal(err)
	}
	return chain[0].SerialNumber.String()
}

// TestRenewalKeepsTheEntryStream renews the agent SVID and checks that the entry stream
// moves to the renewed connection without being lost (no "lost the server's entry stream"),
// that the server takes the new SVID as current and from then on refuses the old one, and
// that entries still arrive.
func TestRenewalKeepsTheEntryStream(t *testing.T) {
	e := newEnv(t)
	cfg, agentID := e.agentConfig()
	e.entry("before", agentID, 0)
	a := e.startAgent(cfg)
	a.servesID(t, "before")
	first := savedSerial(t, cfg.DataDir)
	oldChain, oldKey, err := state.Dir{Path: cfg.DataDir}.LoadSVID()
	if err != nil {
		t.Fatal(err)
	}

	a.clock.Step(31 * time.Minute) // past half the 1h agent SVID lifetime
	poll.Until(t, 30*time.Second, "the agent SVID to be renewed", func() bool {
		return a.log.Contains("agent SVID renewed")
	})
	renewed := savedSerial(t, cfg.DataDir)
	if renewed == first {
		t.Fatal("the renewed SVID was not saved")
	}
	poll.Until(t, 30*time.Second, "the server to take the renewed SVID as current", func() bool {
		return e.agentSerial(agentID) == renewed
	})
	_, err = e.callAsAgent(oldChain, oldKey)
	if status.Code(err) != codes.PermissionDenied || !strings.Contains(err.Error(), "no longer active") {
		t.Fatalf("a call presenting the old agent SVID: %v; want PermissionDenied, no longer active", err)
	}
	newChain, newKey, err := state.Dir{Path: cfg.DataDir}.LoadSVID()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.callAsAgent(newChain, newKey); err != nil {
		t.Fatalf("a call presenting the renewed agent SVID: %v", err)
	}
	e.entry("after", agentID, 0)
	a.servesID(t, "after")
	if a.log.Contains("lost the server's entry stream") {
		t.Fatalf("renewal dropped the entry stream:\n%s", a.log.String())
	}
	e.shutdown(a)
}

// TestUnsavableRenewalKeepsTheIdentity makes the data_dir unwritable (a file in its place,
// which fails writes even for root) during renewal: the agent must keep using and
// presenting the SVID it has saved, so that after a restart it is still the same agent
// without a new join token (the configured one is used up).
func TestUnsavableRenewalKeepsTheIdentity(t *testing.T) {
	e := newEnv(t)
	cfg, agentID := e.agentConfig()
	e.entry("svc", agentID, 0)
	a := e.startAgent(cfg)
	a.servesID(t, "svc")
	saved := savedSerial(t, cfg.DataDir)

	moved := cfg.DataDir + ".moved"
	if err := os.Rename(cfg.DataDir, moved); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfg.DataDir, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	a.clock.Step(31 * time.Minute)
	poll.Until(t, 30*time.Second, "the agent to fail saving the renewed SVID", func() bool {
		return a.log.Contains("saving the renewed agent SVID")
	})
	if got := e.agentSerial(agentID); got != saved {
		t.Fatalf("the server's current agent SVID is %s, want the saved %s: the agent used an SVID it could not save", got, saved)
	}
	a.servesID(t, "svc")
	e.shutdown(a)

	if err := os.Remove(cfg.DataDir); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(moved, cfg.DataDir); err != nil {
		t.Fatal(err)
	}
	again := e.startAgent(cfg)
	again.servesID(t, "svc")
	if got := savedSerial(t, filepath.Clean(cfg.DataDir)); got != saved {
		t.Fatalf("after the restart the agent holds SVID %s, want %s", got, saved)
	}
	e.shutdown(again)
}

// TestExpiredJoinTokenAgentKeepsServing lets the agent SVID expire while the server is
// down: the agent keeps running and serving the workload SVIDs that are still valid, and
// its log and /readyz say that it needs a new join token.
func TestExpiredJoinTokenAgentKeepsServing(t *testing.T) {
	e := newEnv(t)
	cfg, agentID := e.agentConfig()
	e.entry("long", agentID, 3*time.Hour)
	a := e.startAgent(cfg)
	a.servesID(t, "long")
	e.stopServer()

	a.clock.Step(61 * time.Minute) // past the 1h agent SVID
	poll.Until(t, 60*time.Second, "/readyz to say the agent needs a new join token", func() bool {
		return strings.Contains(a.readyz(t), "503 not ready: agent SVID expired") && strings.Contains(a.readyz(t), "new join_token")
	})
	if !a.log.Contains("set a new join_token") {
		t.Fatalf("the log does not say that a new join token is needed:\n%s", a.log.String())
	}
	a.servesID(t, "long")
	select {
	case err := <-a.done:
		t.Fatalf("the agent stopped when its SVID expired: %v", err)
	default:
	}
	e.shutdown(a)
}
