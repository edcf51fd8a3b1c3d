package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lanyard-dev/lanyard/attestors"
	"github.com/lanyard-dev/lanyard/attestors/tpmdevid/tpmtest"
)

// Workload uids of the tpm_devid tests.
const (
	uidTPMWorkload      = 41301
	uidTPMSPIREWorkload = 41302
)

// tpmNode is a node with a software TPM provisioned as a TPM vendor and an operator
// would: an EK certificate in NV and a DevID key with its certificate.
type tpmNode struct {
	tpm   *tpmtest.TPM
	devID tpmtest.DevID
}

// tpmDomain is a domain whose server accepts tpm_devid agents, and one such node.
func tpmDomain(t *testing.T, td string) (*domain, tpmNode) {
	t.Helper()
	d := newDomain(t, td)
	n := tpmNode{tpm: tpmtest.Start(t)}
	ekCA, devIDCA := tpmtest.NewCA(t, "TPM Manufacturer CA"), tpmtest.NewCA(t, "DevID CA")
	n.tpm.ProvisionEK(t, ekCA)
	n.devID = n.tpm.ProvisionDevID(t, d.dir, devIDCA, time.Now().Add(time.Hour), tpmtest.DevIDOptions{})
	// A short agent TTL makes the agent re-attest (tpm_devid agents do instead of
	// renewing) while the test runs.
	d.configureServer(fmt.Sprintf("agent_ttl: 20s\nnode_attestors:\n  tpm_devid:\n    devid_ca_path: %s\n    endorsement_ca_path: %s\n",
		devIDCA.WritePEM(t, d.dir, "devid-ca.pem"), ekCA.WritePEM(t, d.dir, "ek-ca.pem")))
	d.agentID = fmt.Sprintf("spiffe://%s/spire/agent/tpm_devid/%s", d.td, attestors.CertFingerprint(n.devID.Cert))
	return d, n
}

// waitReattested waits for the server to log a re-attestation of the domain's agent,
// and checks the workload still gets its SVID after it.
func (d *domain) waitReattested(uid int, name string) {
	d.t.Helper()
	eventually(d.t, 60*time.Second, "a re-attestation of "+d.agentID, func() bool {
		for _, l := range lines(d.server.Output(), "") {
			if strings.Contains(l, `msg="agent attested"`) && strings.Contains(l, d.agentID) && strings.Contains(l, "reattestation=true") {
				return true
			}
		}
		return false
	})
	eventually(d.t, 30*time.Second, "the SVID after re-attestation", func() bool {
		out, err := d.runWorkload(uid, "x509")
		return err == nil && strings.Contains(out, d.id(name))
	})
}

// TestLanyardAgentAttestsWithTPMDevID runs lanyard-agent with node_attestor: tpm_devid
// against a real software TPM: it attests, and a workload gets an SVID.
func TestLanyardAgentAttestsWithTPMDevID(t *testing.T) {
	requireRoot(t)
	d, n := tpmDomain(t, "tpm-agent.test")
	d.startServer()
	agentYAML := func(name string, devID tpmtest.DevID) string {
		return d.agentConfig(name, fmt.Sprintf("node_attestor: tpm_devid\ntpm_devid:\n  tpm_device_path: %s\n  devid_cert_path: %s\n  devid_priv_path: %s\n  devid_pub_path: %s\n",
			n.tpm.Socket, devID.CertPath, devID.PrivPath, devID.PubPath))
	}

	// A DevID from a CA the server does not trust: the agent stops, saying why.
	rogueDir := filepath.Join(d.dir, "rogue")
	if err := os.Mkdir(rogueDir, 0o700); err != nil {
		t.Fatal(err)
	}
	rogue := n.tpm.ProvisionDevID(t, rogueDir, tpmtest.NewCA(t, "Rogue CA"), time.Now().Add(time.Hour), tpmtest.DevIDOptions{})
	out, err := run(t, "lanyard-agent", 0, nil, "run", "-config", agentYAML("rogue", rogue))
	if want := `is issued by "Rogue CA", which is not signed by a CA in the server's devid_ca_path`; err == nil || !strings.Contains(out+err.Error(), want) {
		t.Fatalf("agent with a rogue DevID: %v, want output containing %q:\n%s", err, want, out)
	}

	conf := agentYAML("agent", n.devID)
	d.agent = start(t, "lanyard-agent", 0, nil, "run", "-config", conf)
	d.waitAgentSocket()
	d.entry("billing", uidTPMWorkload)
	eventually(t, 60*time.Second, "an X.509-SVID through the tpm_devid agent", func() bool {
		out, err := d.runWorkload(uidTPMWorkload, "x509")
		return err == nil && strings.Contains(out, d.id("billing"))
	})
	// A node alias picks the agent by its tpm_devid selectors.
	alias := d.id("nodes/tpm")
	d.cli("entry", "create", "-node", "-spiffeID", alias, "-selector", "tpm_devid:issuer:cn:DevID CA")
	d.cli("entry", "create", "-parentID", alias, "-spiffeID", d.id("ledger"), "-selector", fmt.Sprintf("unix:uid:%d", uidTPMWorkload))
	eventually(t, 60*time.Second, "an X.509-SVID of an entry under a tpm_devid node alias", func() bool {
		out, err := d.runWorkload(uidTPMWorkload, "x509")
		return err == nil && strings.Contains(out, d.id("ledger"))
	})
	d.waitReattested(uidTPMWorkload, "billing")
	show := d.cli("agent", "show", "-spiffeID", d.agentID)
	for _, want := range []string{"Attestation type : tpm_devid", "Can re-attest    : true", "tpm_devid:subject:cn:node-1.example.org", "tpm_devid:issuer:cn:DevID CA"} {
		if !strings.Contains(show, want) {
			t.Fatalf("agent show lacks %q:\n%s", want, show)
		}
	}
}

// TestSPIREAgentAttestsWithTPMDevIDAgainstLanyard runs SPIRE's own agent with its
// tpm_devid plugin, unchanged, on the same kind of node: Lanyard's server accepts it.
func TestSPIREAgentAttestsWithTPMDevIDAgainstLanyard(t *testing.T) {
	requireRoot(t)
	spireAgent := spireBinary(t, "spire-agent")
	d, n := tpmDomain(t, "tpm-spire-agent.test")
	d.startServer()
	conf := d.spireAgentConf("spire-agent", "", fmt.Sprintf(`NodeAttestor "tpm_devid" {
        plugin_data {
            tpm_device_path = %q
            devid_cert_path = %q
            devid_priv_path = %q
            devid_pub_path = %q
        }
    }`, n.tpm.Socket, n.devID.CertPath, n.devID.PrivPath, n.devID.PubPath))
	d.agent = start(t, spireAgent, 0, nil, "run", "-config", conf)
	d.waitAgentSocket()
	d.entry("billing", uidTPMSPIREWorkload)
	eventually(t, 60*time.Second, "an X.509-SVID from SPIRE's tpm_devid agent", func() bool {
		out, err := d.runWorkload(uidTPMSPIREWorkload, "x509")
		return err == nil && strings.Contains(out, d.id("billing"))
	})
	d.waitReattested(uidTPMSPIREWorkload, "billing")
	if show := d.cli("agent", "show", "-spiffeID", d.agentID); !strings.Contains(show, "Attestation type : tpm_devid") {
		t.Fatalf("agent show:\n%s", show)
	}
}
