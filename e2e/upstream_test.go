package e2e

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/bundle/x509bundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"

	"github.com/lanyard-dev/lanyard/internal/freeport"
	"github.com/lanyard-dev/lanyard/internal/testca"
)

// TestUpstreamAuthority: with upstream_authority, the trust bundle is the operator's
// root, workloads' SVID chains verify against that root alone, and mTLS works.
func TestUpstreamAuthority(t *testing.T) {
	requireRoot(t)
	dir := sharedDir(t)
	root, rootKey := testca.New(t, "Corp Root", nil, nil, time.Now().Add(48*time.Hour))
	inter, interKey := testca.New(t, "Corp Issuing CA", root, rootKey, time.Now().Add(48*time.Hour))
	keyDER, _ := x509.MarshalPKCS8PrivateKey(interKey)
	pemFile := func(name, typ string, der []byte) string {
		p := filepath.Join(dir, name)
		writeFile(t, p, string(pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})))
		return p
	}
	d := newDomainWith(t, "upstream.example", fmt.Sprintf("upstream_authority:\n  cert_file: %s\n  key_file: %s\n  bundle_file: %s\n",
		pemFile("inter.pem", "CERTIFICATE", inter.Raw), pemFile("inter.key", "PRIVATE KEY", keyDER), pemFile("root.pem", "CERTIFICATE", root.Raw)))
	d.startServer()
	if b := d.cli("bundle", "show"); !strings.Contains(b, strings.TrimSpace(string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: root.Raw})))) {
		t.Fatalf("bundle show does not carry the upstream root:\n%s", b)
	}
	d.startAgent()
	d.entry("billing", uidBilling)
	d.entry("frontend", uidFrontend)

	billingDir := filepath.Join(dir, "billing")
	if err := os.Mkdir(billingDir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(billingDir, uidBilling, uidBilling); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "billing's SVID written", func() bool {
		_, err := run(t, "lanyard-agent", uidBilling, nil, "api", "fetch", "x509", "-socketPath", d.socket, "-write", filepath.Join(dir, "billing"), "-timeout", "2s")
		return err == nil
	})
	svid, err := x509svid.Load(filepath.Join(dir, "billing", "svid.0.pem"), filepath.Join(dir, "billing", "svid.0.key"))
	if err != nil {
		t.Fatal(err)
	}
	rootOnly := x509bundle.FromX509Authorities(spiffeid.RequireTrustDomainFromString("upstream.example"), []*x509.Certificate{root})
	if id, _, err := x509svid.Verify(svid.Certificates, rootOnly); err != nil || id.String() != d.id("billing") {
		t.Fatalf("billing's SVID does not verify against the operator's root alone: %v, %v", id, err)
	}
	if !bytes.Equal(svid.Certificates[len(svid.Certificates)-1].Raw, inter.Raw) {
		t.Fatal("the SVID chain does not end with the upstream intermediate")
	}

	addr := fmt.Sprintf("127.0.0.1:%d", freeport.Loopback(t))
	billing := d.workload(uidBilling, "serve", "-addr", addr, "-allow", d.id("frontend"))
	eventually(t, 30*time.Second, "billing listening", func() bool { return strings.Contains(billing.Output(), "listening") })
	if _, err := d.runWorkload(uidFrontend, "dial", "-addr", addr, "-expect", d.id("billing"), "-message", "hi"); err != nil {
		t.Fatalf("mTLS under an upstream CA: %v", err)
	}
}
