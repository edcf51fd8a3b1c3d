package e2e

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/bundle/spiffebundle"
	"github.com/spiffe/go-spiffe/v2/exp/svid/witsvid"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
)

// TestWITSVIDsEndToEnd: with real server, agent and workload processes, the frontend
// fetches its WIT-SVID and signs a proof of possession for billing; billing verifies both
// with the WIT bundle it fetches; a process without an entry gets no WIT-SVID; and
// `lanyard-server wit mint -output json` prints a token the published bundle verifies.
func TestWITSVIDsEndToEnd(t *testing.T) {
	requireRoot(t)
	d := newDomain(t, "wit.example")
	d.startServer()
	d.startAgent()
	d.entry("billing", uidBilling)
	d.entry("frontend", uidFrontend)

	var out string
	eventually(t, 30*time.Second, "the frontend's WIT-SVID", func() bool {
		var err error
		out, err = d.runWorkload(uidFrontend, "wit", "-audience", "billing")
		return err == nil
	})
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 {
		t.Fatalf("workload wit printed %q; want the WIT-SVID and the proof", out)
	}
	wit, proof := lines[0], lines[1]
	got, err := d.runWorkload(uidBilling, "witverify", "-audience", "billing", "-wit", wit, "-proof", proof)
	if err != nil || strings.TrimSpace(got) != "valid "+d.id("frontend") {
		t.Fatalf("billing verifying the frontend's WIT-SVID: %q, %v", got, err)
	}
	if _, err := d.runWorkload(uidBilling, "witverify", "-audience", "payroll", "-wit", wit, "-proof", proof); err == nil {
		t.Fatal("a proof for billing verified for payroll")
	}
	if _, err := d.runWorkload(41999, "wit", "-audience", "billing"); err == nil {
		t.Fatal("a process without an entry got a WIT-SVID")
	}

	var minted struct {
		PrivateKey string `json:"private_key"`
		SVID       struct {
			Token string `json:"token"`
		} `json:"svid"`
	}
	if err := json.Unmarshal([]byte(d.cli("wit", "mint", "-spiffeID", d.id("batch-job"), "-ttl", "5m", "-output", "json")), &minted); err != nil {
		t.Fatal(err)
	}
	doc, err := spiffebundle.Parse(spiffeid.RequireTrustDomainFromString("wit.example"), []byte(d.cli("bundle", "show", "-format", "spiffe")))
	if err != nil {
		t.Fatal(err)
	}
	if s, err := witsvid.ParseAndValidate(minted.SVID.Token, doc); err != nil || s.ID.String() != d.id("batch-job") || minted.PrivateKey == "" {
		t.Fatalf("wit mint printed %+v: %v", minted, err)
	}
}
