package agent_test

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	agentv1 "github.com/spiffe/spire-api-sdk/proto/spire/api/server/agent/v1"
	"github.com/spiffe/spire-api-sdk/proto/spire/api/types"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/lanyard-dev/lanyard/agent/attest"
	"github.com/lanyard-dev/lanyard/attestors"
	"github.com/lanyard-dev/lanyard/attestors/x509pop"
	"github.com/lanyard-dev/lanyard/attestors/x509pop/x509poptest"
	"github.com/lanyard-dev/lanyard/server/servertest"
)

// x509popServer starts a server trusting ca for x509pop.
func x509popServer(t *testing.T, ca *x509poptest.CA) *servertest.Server {
	bundle := x509poptest.WriteBundle(t, filepath.Join(t.TempDir(), "agent-ca.pem"), ca)
	return servertest.Start(t, servertest.WithYAML("node_attestors:\n  x509pop:\n    ca_bundle_path: "+bundle+"\n"))
}

func TestX509PoPAttestsReattestsAndRefusesAnExpiredCertificate(t *testing.T) {
	root := x509poptest.NewCA(t, "agents root", nil)
	s := x509popServer(t, root)
	node := root.Issue(t, x509poptest.Node{CN: "node1", RSA: true, NotAfter: s.Clock.Now().Add(2 * time.Hour)})
	certPath, keyPath := node.Write(t, t.TempDir())
	client := agentv1.NewAgentClient(s.Dial(nil, nil))
	prove := func() (*attest.Result, error) {
		return attest.Attest(context.Background(), client, &x509pop.Prover{CertificatePath: certPath, PrivateKeyPath: keyPath})
	}
	res, err := prove()
	if err != nil {
		t.Fatal(err)
	}
	wantID := "spiffe://example.org/spire/agent/x509pop/" + attestors.CertFingerprint(node.Cert)
	if res.ID.String() != wantID || !res.Reattestable {
		t.Fatalf("agent %s (reattestable %v), want %s, reattestable", res.ID, res.Reattestable, wantID)
	}
	a, err := agentv1.NewAgentClient(s.Admin).GetAgent(context.Background(), &agentv1.GetAgentRequest{Id: &types.SPIFFEID{TrustDomain: "example.org", Path: res.ID.Path()}})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, sel := range a.Selectors {
		got = append(got, sel.Type+":"+sel.Value)
	}
	for _, want := range []string{"x509pop:subject:cn:node1", "x509pop:ca:fingerprint:" + attestors.CertFingerprint(root.Cert),
		"x509pop:serialnumber:" + x509pop.SerialNumberHex(node.Cert.SerialNumber)} {
		if !slices.Contains(got, want) {
			t.Fatalf("agent selectors %q lack %q", got, want)
		}
	}
	if a.AttestationType != "x509pop" || !a.CanReattest {
		t.Fatalf("agent %+v", a)
	}

	// Renewal: the agent proves possession again, with a fresh challenge, and keeps its ID.
	s.Clock.Step(30 * time.Minute)
	again, err := prove()
	if err != nil || again.ID != res.ID {
		t.Fatalf("re-attestation: %v, %v", again, err)
	}

	// Once the node certificate has expired, renewal is refused with the reason.
	s.Clock.Step(2 * time.Hour)
	_, err = prove()
	if status.Code(err) != codes.PermissionDenied || !strings.Contains(err.Error(), "expired at") {
		t.Fatalf("re-attesting with an expired certificate: %v", err)
	}
}

func TestX509PoPRefusesNodesOfOtherCAs(t *testing.T) {
	s := x509popServer(t, x509poptest.NewCA(t, "agents root", nil))
	stranger := x509poptest.NewCA(t, "another root", nil).Issue(t, x509poptest.Node{CN: "node1"})
	certPath, keyPath := stranger.Write(t, t.TempDir())
	_, err := attest.Attest(context.Background(), agentv1.NewAgentClient(s.Dial(nil, nil)), &x509pop.Prover{CertificatePath: certPath, PrivateKeyPath: keyPath})
	if status.Code(err) != codes.PermissionDenied || !strings.Contains(err.Error(), "does not chain to a CA in node_attestors.x509pop.ca_bundle_path") {
		t.Fatalf("a certificate of another CA: %v", err)
	}
	// Garbage evidence is one clear refusal too.
	_, err = attestOnce(t, s, &agentv1.AttestAgentRequest_Params{
		Data:   &types.AttestationData{Type: "x509pop", Payload: []byte("garbage")},
		Params: &agentv1.AgentX509SVIDParams{Csr: csr(t, "")},
	})
	if status.Code(err) != codes.PermissionDenied || !strings.Contains(err.Error(), "payload is not JSON") {
		t.Fatalf("garbage evidence: %v", err)
	}
}

// TestX509PoPSPIFFEModeExchangesTheServersOwnSVIDs: in spiffe mode a node holding an
// X.509-SVID of this server under svid_prefix exchanges it for an agent SVID, named
// after the SVID's path; an SVID outside the prefix is refused.
func TestX509PoPSPIFFEModeExchangesTheServersOwnSVIDs(t *testing.T) {
	s := servertest.Start(t, servertest.WithYAML("node_attestors:\n  x509pop:\n    mode: spiffe\n"))
	client := agentv1.NewAgentClient(s.Dial(nil, nil))
	exchange := func(path string) (*attest.Result, error) {
		p := s.WorkloadPeer(path)
		cert, key := (&x509poptest.Issued{Cert: p.Chain[0], Key: p.Key, Intermediates: p.Chain[1:]}).Write(t, t.TempDir())
		return attest.Attest(context.Background(), client, &x509pop.Prover{CertificatePath: cert, PrivateKeyPath: key})
	}
	res, err := exchange("/spire-exchange/host1")
	if err != nil || res.ID.String() != "spiffe://example.org/spire/agent/x509pop/host1" {
		t.Fatalf("exchanging spiffe://example.org/spire-exchange/host1: %v, %v", res, err)
	}
	if _, err := exchange("/web"); status.Code(err) != codes.PermissionDenied || !strings.Contains(err.Error(), `is not under svid_prefix "/spire-exchange/"`) {
		t.Fatalf("exchanging an SVID outside svid_prefix: %v", err)
	}
}
