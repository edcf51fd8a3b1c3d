package verifier

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-tpm/legacy/tpm2"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/lanyard-dev/lanyard/attestors/tpmdevid"
	"github.com/lanyard-dev/lanyard/attestors/tpmdevid/tpmtest"
)

func TestRefusesCertificatesFromOtherCAs(t *testing.T) {
	f := newFixture(t, tpmtest.DevIDOptions{})
	other := tpmtest.NewCA(t, "Someone Else's CA")
	for name, tc := range map[string]struct {
		cfg  Config
		want string
	}{
		"DevID certificate from a CA not in devid_ca_path": {Config{DevIDRoots: pool(other.Cert), EKRoots: pool(f.ekCA.Cert)},
			`DevID certificate "node-1.example.org" is issued by "DevID CA", which is not signed by a CA in the server's devid_ca_path`},
		"EK certificate from a manufacturer not in endorsement_ca_path": {Config{DevIDRoots: pool(f.devIDCA.Cert), EKRoots: pool(other.Cert)},
			`EK certificate (serial ` + f.ekCert.SerialNumber.Text(16) + `) is issued by "TPM Manufacturer CA", which is not signed by a CA in the server's endorsement_ca_path`},
		"expired DevID certificate": {Config{DevIDRoots: pool(f.devIDCA.Cert), EKRoots: pool(f.ekCA.Cert),
			Clock: clocktesting.NewFakePassiveClock(time.Now().Add(2 * time.Hour))},
			`DevID certificate "node-1.example.org" is not valid now`},
	} {
		t.Run(name, func(t *testing.T) {
			tc.cfg.TrustDomain = td
			v, err := New(tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			_, err = attest(v, f.prover(t))
			wantRejected(t, err, tc.want)
		})
	}
}

func TestRefusesDevIDCertificateForAnotherKey(t *testing.T) {
	f := newFixture(t, tpmtest.DevIDOptions{})
	_, _, otherKey := f.tpm.CreateDevIDKey(t, tpmtest.DevIDOptions{})
	otherCert := f.devIDCA.Issue(t, "node-1.example.org", otherKey, time.Now().Add(time.Hour))

	// The agent notices its own misconfiguration before asking the server.
	f.cfg.DevIDCertPath = writeCert(t, otherCert)
	_, err := f.prover(t).Payload(context.Background())
	if err == nil || !strings.Contains(err.Error(), "certifies another key than devid_pub_path") {
		t.Fatalf("agent error %v, want it to name devid_cert_path and devid_pub_path", err)
	}

	// A forged payload gets the same verdict from the server.
	f.cfg.DevIDCertPath = f.devID.CertPath
	p := f.prover(t)
	payload := editPayload(t, p, func(pl *tpmdevid.Payload) { pl.DevIDCert = [][]byte{otherCert.Raw} })
	_, err = f.verifier(t).Attest(context.Background(), payload, respond(p))
	wantRejected(t, err, "the DevID certificate certifies another key than the TPM's DevID key")
}

func TestRefusesEKOfAnotherTPM(t *testing.T) {
	f := newFixture(t, tpmtest.DevIDOptions{})
	// A second genuine TPM from the same manufacturer, also with a DevID.
	g := newFixtureWith(t, tpmtest.DevIDOptions{}, f.ekCA, f.devIDCA)
	var theirs tpmdevid.Payload
	theirsJSON, err := g.prover(t).Payload(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(theirsJSON, &theirs); err != nil {
		t.Fatal(err)
	}

	// The DevID is in the first TPM, but the agent claims the second TPM's EK: the
	// credential is made for that EK, which the first TPM cannot open.
	p := f.prover(t)
	payload := editPayload(t, p, func(pl *tpmdevid.Payload) { pl.EKCert, pl.EKPub = theirs.EKCert, theirs.EKPub })
	_, err = f.verifier(t).Attest(context.Background(), payload, respond(p))
	if err == nil || !strings.Contains(err.Error(), "credential activation failed") {
		t.Fatalf("error %v, want a failed credential activation", err)
	}
}

func TestRefusesReplayedChallengeResponses(t *testing.T) {
	f := newFixture(t, tpmtest.DevIDOptions{})
	v := f.verifier(t)
	p := f.prover(t)
	var recorded []byte
	payload, err := p.Payload(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Attest(context.Background(), payload, func(ctx context.Context, c []byte) ([]byte, error) {
		recorded, err = p.RespondChallenge(ctx, c)
		return recorded, err
	}); err != nil {
		t.Fatal(err)
	}
	var old tpmdevid.Response
	if err := json.Unmarshal(recorded, &old); err != nil {
		t.Fatal(err)
	}

	t.Run("the whole earlier answer", func(t *testing.T) {
		payload, err := p.Payload(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		_, err = v.Attest(context.Background(), payload, func(context.Context, []byte) ([]byte, error) { return recorded, nil })
		wantRejected(t, err, "the DevID signature does not verify over this attestation's nonce")
	})
	t.Run("a fresh signature with the earlier credential secret", func(t *testing.T) {
		payload, err := p.Payload(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		_, err = v.Attest(context.Background(), payload, func(ctx context.Context, c []byte) ([]byte, error) {
			b, err := p.RespondChallenge(ctx, c)
			if err != nil {
				return nil, err
			}
			var r tpmdevid.Response
			if err := json.Unmarshal(b, &r); err != nil {
				return nil, err
			}
			r.CredActivation = old.CredActivation
			return json.Marshal(r)
		})
		wantRejected(t, err, "the credential activation answer is not this attestation's secret")
	})
}

func TestRefusesDevIDKeyThatCanLeaveTheTPMOrDecrypt(t *testing.T) {
	const base = tpm2.FlagSensitiveDataOrigin | tpm2.FlagUserWithAuth | tpm2.FlagSign
	for name, attrs := range map[string]tpm2.KeyProp{
		"a key that also decrypts":               base | tpm2.FlagFixedTPM | tpm2.FlagFixedParent | tpm2.FlagDecrypt,
		"a key that can be duplicated elsewhere": base,
	} {
		t.Run(name, func(t *testing.T) {
			// A decrypting key cannot carry a signing scheme.
			f := newFixture(t, tpmtest.DevIDOptions{Attributes: attrs, NoScheme: true})
			_, err := attest(f.verifier(t), f.prover(t))
			wantRejected(t, err, "are not fixedTPM|fixedParent|sign without decrypt")
		})
	}
}

func TestRefusesTamperedCertification(t *testing.T) {
	f := newFixture(t, tpmtest.DevIDOptions{})
	p := f.prover(t)
	payload := editPayload(t, p, func(pl *tpmdevid.Payload) { pl.CertifiedDevID[len(pl.CertifiedDevID)-1] ^= 1 })
	_, err := f.verifier(t).Attest(context.Background(), payload, respond(p))
	wantRejected(t, err, "the DevID certification is not signed by the attestation key")
}

// editPayload gets the prover's payload and changes it as a forger would.
func editPayload(t *testing.T, p *tpmdevid.Prover, edit func(*tpmdevid.Payload)) []byte {
	t.Helper()
	b, err := p.Payload(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var pl tpmdevid.Payload
	if err := json.Unmarshal(b, &pl); err != nil {
		t.Fatal(err)
	}
	edit(&pl)
	if b, err = json.Marshal(pl); err != nil {
		t.Fatal(err)
	}
	return b
}

func respond(p *tpmdevid.Prover) func(context.Context, []byte) ([]byte, error) {
	return p.RespondChallenge
}

// writeCert writes a devid_cert_path file: the certificate, then any intermediates.
func writeCert(t *testing.T, chain ...*x509.Certificate) string {
	t.Helper()
	var b []byte
	for _, c := range chain {
		b = append(b, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
	}
	path := filepath.Join(t.TempDir(), "devid.crt.pem")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
