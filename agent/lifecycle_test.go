package agent

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/svid/x509svid"
	agentv1 "github.com/spiffe/spire-api-sdk/proto/spire/api/server/agent/v1"
	bundlev1 "github.com/spiffe/spire-api-sdk/proto/spire/api/server/bundle/v1"
	"github.com/spiffe/spire-api-sdk/proto/spire/api/types"
	"go.uber.org/goleak"

	"github.com/lanyard-dev/lanyard/agent/state"
	"github.com/lanyard-dev/lanyard/internal/bundleconv"
)

// TestJoinTokenBootstrapSavesTheSVIDAndRestartsWithIt: a new agent proves its node with
// the join token, saves the agent SVID the server issued (the one the server takes as
// current) with the trust bundle, and after a restart carries on with the saved SVID,
// although the token is used up.
func TestJoinTokenBootstrapSavesTheSVIDAndRestartsWithIt(t *testing.T) {
	e := newEnv(t)
	cfg, agentID := e.agentConfig()
	e.entry("svc", agentID, 0)
	a := e.startAgent(cfg)
	a.servesID(t, "svc")
	if !a.log.Contains("node attested") {
		t.Fatalf("the agent did not attest:\n%s", a.log.String())
	}
	if m := a.metrics(t); !strings.Contains(m, "lanyard_agent_entries 1\n") || !strings.Contains(m, "lanyard_agent_x509_svids 1\n") {
		t.Fatalf("/metrics does not count the one entry and its SVID:\n%s", m)
	}
	dir := state.Dir{Path: cfg.DataDir}
	chain, _, err := dir.LoadSVID()
	if err != nil {
		t.Fatalf("no agent SVID saved in data_dir: %v", err)
	}
	if id, err := x509svid.IDFromCert(chain[0]); err != nil || id != agentID {
		t.Fatalf("the saved agent SVID names %v (%v), want %s", id, err, agentID)
	}
	saved := chain[0].SerialNumber.String()
	if got := e.agentSerial(agentID); got != saved {
		t.Fatalf("the server's current agent SVID is %s, the saved one %s", got, saved)
	}
	if _, err := dir.LoadBundle(agentID.TrustDomain()); err != nil {
		t.Fatalf("no trust bundle saved in data_dir: %v", err)
	}
	e.shutdown(a)

	again := e.startAgent(cfg)
	again.servesID(t, "svc")
	if again.log.Contains("node attested") {
		t.Fatalf("the restarted agent attested again instead of using its saved SVID:\n%s", again.log.String())
	}
	if got := savedSerial(t, cfg.DataDir); got != saved {
		t.Fatalf("after the restart the agent holds SVID %s, want %s", got, saved)
	}
	e.shutdown(again)
}

// TestInsecureBootstrapTrustsTheBundleItsSVIDChainsTo: without trust_bundle_path, an agent
// under insecure_bootstrap accepts the server once, and then trusts (and saves) the
// server's bundle because the SVID it was just issued chains to it.
func TestInsecureBootstrapTrustsTheBundleItsSVIDChainsTo(t *testing.T) {
	e := newEnv(t)
	cfg, agentID := e.agentConfig()
	cfg.TrustBundlePath, cfg.InsecureBootstrap = "", true
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	e.entry("svc", agentID, 0)
	a := e.startAgent(cfg)
	a.servesID(t, "svc")
	if !a.log.Contains("insecure_bootstrap: the server is not verified") {
		t.Fatalf("the agent did not warn about the insecure bootstrap:\n%s", a.log.String())
	}
	saved, err := state.Dir{Path: cfg.DataDir}.LoadBundle(agentID.TrustDomain())
	if err != nil {
		t.Fatalf("the server's bundle was not saved: %v", err)
	}
	pb, err := bundlev1.NewBundleClient(e.admin).GetBundle(t.Context(), &bundlev1.GetBundleRequest{})
	if err != nil {
		t.Fatal(err)
	}
	want, err := bundleconv.ToSPIFFE(pb)
	if err != nil {
		t.Fatal(err)
	}
	if !saved.Equal(want.X509Bundle()) {
		t.Fatal("the saved bundle is not the server's")
	}
	e.shutdown(a)
}

// TestEvictedOrBannedAgentStopsAndSaysWhy: when the server evicts or bans the agent, the
// agent stops serving workloads, forgets its saved SVID (the next start attests afresh)
// and says what the operator must do.
func TestEvictedOrBannedAgentStopsAndSaysWhy(t *testing.T) {
	for _, tc := range []struct {
		name   string
		reject func(ctx context.Context, c agentv1.AgentClient, id *types.SPIFFEID) error
	}{
		{"evicted", func(ctx context.Context, c agentv1.AgentClient, id *types.SPIFFEID) error {
			_, err := c.DeleteAgent(ctx, &agentv1.DeleteAgentRequest{Id: id})
			return err
		}},
		{"banned", func(ctx context.Context, c agentv1.AgentClient, id *types.SPIFFEID) error {
			_, err := c.BanAgent(ctx, &agentv1.BanAgentRequest{Id: id})
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			cfg, agentID := e.agentConfig()
			e.entry("svc", agentID, 0)
			a := e.startAgent(cfg)
			a.servesID(t, "svc")

			id := &types.SPIFFEID{TrustDomain: agentID.TrustDomain().Name(), Path: agentID.Path()}
			if err := tc.reject(t.Context(), agentv1.NewAgentClient(e.admin), id); err != nil {
				t.Fatal(err)
			}
			var err error
			select {
			case err = <-a.done:
			case <-time.After(30 * time.Second):
				t.Fatal("the agent kept running after the server rejected it")
			}
			a.done <- nil // for the cleanup
			if err == nil || !strings.Contains(err.Error(), "the server evicted or banned this agent; attest again with a new join token") {
				t.Fatalf("the agent stopped with %v; want it to say it was evicted or banned and needs a new join token", err)
			}
			if _, _, lerr := (state.Dir{Path: cfg.DataDir}).LoadSVID(); !errors.Is(lerr, state.ErrNone) {
				t.Fatalf("the rejected agent SVID is still saved: %v", lerr)
			}
			if _, ferr := os.Stat(cfg.SocketPath); !errors.Is(ferr, os.ErrNotExist) {
				t.Fatalf("the Workload API socket is still there after the agent stopped: %v", ferr)
			}
			goleak.VerifyNone(t, e.leakOpt)
		})
	}
}
