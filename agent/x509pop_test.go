package agent

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/lanyard-dev/lanyard/agent/config"
	"github.com/lanyard-dev/lanyard/attestors"
	"github.com/lanyard-dev/lanyard/attestors/x509pop/x509poptest"
	"github.com/lanyard-dev/lanyard/internal/poll"
	servercfg "github.com/lanyard-dev/lanyard/server/config"
)

// TestX509PoPAgentReattestsAndIsRefusedOnceItsCAIsRemoved runs an agent that attests with
// a node certificate: it serves workloads, renews its SVID by proving possession again,
// and once the server's configuration no longer trusts the node's CA, renewal is refused
// with that reason while the agent keeps serving what it has.
func TestX509PoPAgentReattestsAndIsRefusedOnceItsCAIsRemoved(t *testing.T) {
	e := newEnv(t)
	root := x509poptest.NewCA(t, "agents root", nil)
	node := root.Issue(t, x509poptest.Node{CN: "node1"})
	certPath, keyPath := node.Write(t, e.dir)
	trust := func(ca *x509poptest.CA) {
		e.stopServer()
		e.srvCfg.KeyManager = "disk" // the same CA after the restart
		e.srvCfg.NodeAttestors.X509PoP = &servercfg.X509PoP{CABundlePath: x509poptest.WriteBundle(t, filepath.Join(e.dir, "agent-ca.pem"), ca)}
		e.startServer()
	}
	trust(root)

	cfg, _ := e.agentConfig()
	cfg.JoinToken, cfg.NodeAttestor = "", config.X509PoP
	cfg.X509PoP = config.X509PoPAttestor{CertificatePath: certPath, PrivateKeyPath: keyPath}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	agentID := spiffeid.RequireFromPath(spiffeid.RequireTrustDomainFromString(testTD), "/spire/agent/x509pop/"+attestors.CertFingerprint(node.Cert))
	e.entry("svc", agentID, 3*time.Hour)
	a := e.startAgent(cfg)
	a.servesID(t, "svc")
	first := e.agentSerial(agentID)

	a.clock.Step(31 * time.Minute) // past half the 1h agent SVID
	poll.Until(t, 30*time.Second, "the agent to re-attest", func() bool {
		return a.log.Contains("agent SVID renewed")
	})
	poll.Until(t, 30*time.Second, "the server to take the re-attested SVID as current", func() bool {
		return e.agentSerial(agentID) != first
	})

	// The agent's clock is past the half life of the SVID the server (on real time) just
	// issued: the renewal and its retries are due as soon as the agent's clock moves.
	trust(x509poptest.NewCA(t, "another root", nil))
	poll.Until(t, 30*time.Second, "renewal to be refused because the node's CA is no longer trusted", func() bool {
		a.clock.Step(time.Second)
		return a.log.Contains("the server refuses to attest this node again") && a.log.Contains("does not chain to a CA in node_attestors.x509pop.ca_bundle_path")
	})
	a.servesID(t, "svc")
	a.clock.Step(time.Hour) // past the agent SVID: /readyz says why it is not renewed
	poll.Until(t, 30*time.Second, "/readyz to give the server's refusal", func() bool {
		r := a.readyz(t)
		return strings.Contains(r, "agent SVID expired and the server refuses to attest this node again") && strings.Contains(r, "does not chain")
	})
	// Not e.shutdown: the restarted server's goroutines are not in its leak snapshot.
	a.stop()
	if err := <-a.done; err != nil {
		t.Fatalf("agent stopped with an error: %v", err)
	}
	a.done <- nil
}
