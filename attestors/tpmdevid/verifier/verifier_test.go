package verifier

import (
	"context"
	"crypto/x509"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/lanyard-dev/lanyard/attestors"
	"github.com/lanyard-dev/lanyard/attestors/tpmdevid"
	"github.com/lanyard-dev/lanyard/attestors/tpmdevid/tpmtest"
	"github.com/lanyard-dev/lanyard/internal/testca"
)

var td = spiffeid.RequireTrustDomainFromString("example.org")

// fixture is one provisioned software TPM with the agent and server halves around it.
type fixture struct {
	tpm     *tpmtest.TPM
	ekCA    tpmtest.CA
	devIDCA tpmtest.CA
	devID   tpmtest.DevID
	ekCert  *x509.Certificate
	dir     string
	cfg     tpmdevid.ProverConfig
}

func newFixture(t *testing.T, opts tpmtest.DevIDOptions) *fixture {
	t.Helper()
	return newFixtureWith(t, opts, tpmtest.NewCA(t, "TPM Manufacturer CA"), tpmtest.NewCA(t, "DevID CA"))
}

// newFixtureWith provisions a TPM with certificates from the given CAs.
func newFixtureWith(t *testing.T, opts tpmtest.DevIDOptions, ekCA, devIDCA tpmtest.CA) *fixture {
	t.Helper()
	f := &fixture{tpm: tpmtest.Start(t), ekCA: ekCA, devIDCA: devIDCA, dir: t.TempDir()}
	f.ekCert = f.tpm.ProvisionEK(t, f.ekCA)
	f.devID = f.tpm.ProvisionDevID(t, f.dir, f.devIDCA, time.Now().Add(time.Hour), opts)
	f.cfg = tpmdevid.ProverConfig{DevicePath: f.tpm.Socket, DevIDCertPath: f.devID.CertPath,
		DevIDPrivPath: f.devID.PrivPath, DevIDPubPath: f.devID.PubPath, DevIDPassword: opts.Password}
	return f
}

func (f *fixture) verifier(t *testing.T) *Verifier {
	t.Helper()
	v, err := New(Config{TrustDomain: td, DevIDRoots: pool(f.devIDCA.Cert), EKRoots: pool(f.ekCA.Cert)})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func (f *fixture) prover(t *testing.T) *tpmdevid.Prover {
	t.Helper()
	p, err := tpmdevid.NewProver(f.cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

// attest runs one attestation the way the server's AttestAgent stream does.
func attest(v *Verifier, p *tpmdevid.Prover) (*attestors.NodeAttestation, error) {
	ctx := context.Background()
	payload, err := p.Payload(ctx)
	if err != nil {
		return nil, err
	}
	return v.Attest(ctx, payload, func(ctx context.Context, c []byte) ([]byte, error) { return p.RespondChallenge(ctx, c) })
}

func pool(certs ...*x509.Certificate) *x509.CertPool {
	p := x509.NewCertPool()
	for _, c := range certs {
		p.AddCert(c)
	}
	return p
}

func TestAttestsAgentHoldingDevIDInGenuineTPM(t *testing.T) {
	for name, opts := range map[string]tpmtest.DevIDOptions{
		"RSA DevID key":                          {},
		"ECC DevID key with a password":          {ECC: true, Password: "devid-secret"},
		"RSA DevID key without a signing scheme": {NoScheme: true},
		"ECC DevID key without a signing scheme": {ECC: true, NoScheme: true},
	} {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t, opts)
			att, err := attest(f.verifier(t), f.prover(t))
			if err != nil {
				t.Fatal(err)
			}
			wantID := "spiffe://example.org/spire/agent/tpm_devid/" + attestors.CertFingerprint(f.devID.Cert)
			if att.AgentID.String() != wantID || !att.CanReattest {
				t.Fatalf("got %s (reattest %v), want %s, reattestable", att.AgentID, att.CanReattest, wantID)
			}
			var sels []string
			for _, s := range att.Selectors {
				sels = append(sels, s.String())
			}
			want := []string{"tpm_devid:subject:cn:node-1.example.org", "tpm_devid:issuer:cn:DevID CA",
				"tpm_devid:ca:fingerprint:" + attestors.CertFingerprint(f.devIDCA.Cert)}
			if !slices.Equal(sels, want) {
				t.Fatalf("selectors %q, want %q", sels, want)
			}
		})
	}
}

func wantRejected(t *testing.T, err error, want string) {
	t.Helper()
	if err == nil {
		t.Fatalf("attestation succeeded, want an error containing %q", want)
	}
	if !errors.Is(err, attestors.ErrRejected) {
		t.Fatalf("error %v is not a refusal (ErrRejected)", err)
	}
	if !strings.Contains(err.Error(), want) {
		t.Fatalf("error %q does not contain %q", err, want)
	}
}

// A DevID issued by an intermediate: the agent sends the chain from devid_cert_path,
// and every CA on it becomes a ca:fingerprint selector.
func TestAttestsDevIDFromIntermediateCA(t *testing.T) {
	f := newFixture(t, tpmtest.DevIDOptions{})
	ic, ik := testca.New(t, "DevID Issuing CA", f.devIDCA.Cert, f.devIDCA.Key, time.Now().Add(time.Hour))
	inter := tpmtest.CA{Cert: ic, Key: ik}
	leaf := inter.Issue(t, "node-2.example.org", f.devID.Cert.PublicKey, time.Now().Add(time.Hour))
	f.cfg.DevIDCertPath = writeCert(t, leaf, ic)
	att, err := attest(f.verifier(t), f.prover(t))
	if err != nil {
		t.Fatal(err)
	}
	var sels []string
	for _, s := range att.Selectors {
		sels = append(sels, s.String())
	}
	want := []string{"tpm_devid:subject:cn:node-2.example.org", "tpm_devid:issuer:cn:DevID Issuing CA",
		"tpm_devid:ca:fingerprint:" + attestors.CertFingerprint(ic), "tpm_devid:ca:fingerprint:" + attestors.CertFingerprint(f.devIDCA.Cert)}
	if !slices.Equal(sels, want) {
		t.Fatalf("selectors %q, want %q", sels, want)
	}
}

// Two nodes attesting at once to one verifier each get their own nonces and IDs.
func TestConcurrentAttestationsKeepTheirOwnChallenges(t *testing.T) {
	a := newFixture(t, tpmtest.DevIDOptions{})
	b := newFixtureWith(t, tpmtest.DevIDOptions{}, a.ekCA, a.devIDCA)
	v := a.verifier(t)
	ps := []*tpmdevid.Prover{a.prover(t), b.prover(t)}
	ids := make([]string, 2)
	errs := make(chan error, 2)
	for i, p := range ps {
		go func() {
			att, err := attest(v, p)
			if err == nil {
				ids[i] = att.AgentID.String()
			}
			errs <- err
		}()
	}
	for range ps {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	want := []string{"spiffe://example.org/spire/agent/tpm_devid/" + attestors.CertFingerprint(a.devID.Cert),
		"spiffe://example.org/spire/agent/tpm_devid/" + attestors.CertFingerprint(b.devID.Cert)}
	if !slices.Equal(ids, want) {
		t.Fatalf("agent IDs %q, want %q", ids, want)
	}
}
