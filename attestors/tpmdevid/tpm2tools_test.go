package tpmdevid_test

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/lanyard-dev/lanyard/attestors"
	"github.com/lanyard-dev/lanyard/attestors/tpmdevid"
	"github.com/lanyard-dev/lanyard/attestors/tpmdevid/tpmtest"
	"github.com/lanyard-dev/lanyard/attestors/tpmdevid/verifier"
)

// TestAttestsWithDevIDProvisionedByTPM2Tools follows the README's provisioning recipe
// with tpm2-tools (TPM2B blobs, a signing key with a password) and attests with it.
func TestAttestsWithDevIDProvisionedByTPM2Tools(t *testing.T) {
	tp := tpmtest.Start(t)
	ekCA, devIDCA := tpmtest.NewCA(t, "TPM Manufacturer CA"), tpmtest.NewCA(t, "DevID CA")
	tp.ProvisionEK(t, ekCA)
	dir := t.TempDir()
	// The TCG SRK template (noDA included), which the agent recreates to load the key.
	tp.Tool(t, dir, "tpm2_createprimary", "-Q", "-C", "o", "-G", "rsa2048:null:aes128cfb",
		"-a", "fixedtpm|fixedparent|sensitivedataorigin|userwithauth|noda|restricted|decrypt", "-c", "srk.ctx")
	tp.Tool(t, dir, "tpm2_create", "-Q", "-C", "srk.ctx", "-G", "rsa2048:rsassa-sha256",
		"-a", "fixedtpm|fixedparent|sensitivedataorigin|userwithauth|sign", "-p", "devid-secret",
		"-u", "devid.pub.blob", "-r", "devid.priv.blob")
	tp.Tool(t, dir, "tpm2_flushcontext", "-t")
	tp.Tool(t, dir, "tpm2_load", "-Q", "-C", "srk.ctx", "-u", "devid.pub.blob", "-r", "devid.priv.blob", "-c", "devid.ctx")
	tp.Tool(t, dir, "tpm2_readpublic", "-Q", "-c", "devid.ctx", "-f", "pem", "-o", "devid.pub.pem")
	tp.Tool(t, dir, "tpm2_flushcontext", "-t")

	b, err := os.ReadFile(filepath.Join(dir, "devid.pub.pem"))
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(b)
	if block == nil {
		t.Fatalf("tpm2_readpublic wrote no PEM: %q", b)
	}
	pub, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	cert := devIDCA.Issue(t, "node-1.example.org", pub, time.Now().Add(time.Hour))
	certPath := filepath.Join(dir, "devid.crt.pem")
	if err := os.WriteFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}), 0o600); err != nil {
		t.Fatal(err)
	}

	p, err := tpmdevid.NewProver(tpmdevid.ProverConfig{DevicePath: tp.Socket, DevIDCertPath: certPath,
		DevIDPrivPath: filepath.Join(dir, "devid.priv.blob"), DevIDPubPath: filepath.Join(dir, "devid.pub.blob"), DevIDPassword: "devid-secret"})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	devIDRoots, ekRoots := x509.NewCertPool(), x509.NewCertPool()
	devIDRoots.AddCert(devIDCA.Cert)
	ekRoots.AddCert(ekCA.Cert)
	v, err := verifier.New(verifier.Config{TrustDomain: spiffeid.RequireTrustDomainFromString("example.org"), DevIDRoots: devIDRoots, EKRoots: ekRoots})
	if err != nil {
		t.Fatal(err)
	}
	payload, err := p.Payload(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	att, err := v.Attest(context.Background(), payload, p.RespondChallenge)
	if err != nil {
		t.Fatal(err)
	}
	if want := "spiffe://example.org/spire/agent/tpm_devid/" + attestors.CertFingerprint(cert); att.AgentID.String() != want {
		t.Fatalf("agent ID %s, want %s", att.AgentID, want)
	}
}
