package verifier

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"k8s.io/utils/clock"

	"github.com/lanyard-dev/lanyard/attestors"
	"github.com/lanyard-dev/lanyard/attestors/tpmdevid"
)

// Config configures the verifier.
type Config struct {
	// TrustDomain is the server's trust domain; agent IDs are minted in it.
	TrustDomain spiffeid.TrustDomain
	// DevIDRoots (devid_ca_path) are the CAs DevID certificates must chain to. Required.
	DevIDRoots *x509.CertPool
	// EKRoots (endorsement_ca_path) are the TPM manufacturers' CAs EK certificates
	// must chain to. Required.
	EKRoots *x509.CertPool
	// Clock tells certificate validity. Default: the real clock.
	Clock clock.PassiveClock
	// Log receives one line per refusal. Default: discarded.
	Log *slog.Logger
}

// Verifier is the server half of tpm_devid. It is safe for concurrent use: every
// attestation has its own nonces.
type Verifier struct {
	cfg Config
}

// New checks cfg.
func New(cfg Config) (*Verifier, error) {
	if cfg.DevIDRoots == nil {
		return nil, errors.New("tpm_devid: devid_ca_path is required")
	}
	if cfg.EKRoots == nil {
		return nil, errors.New("tpm_devid: endorsement_ca_path is required")
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.RealClock{}
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	return &Verifier{cfg: cfg}, nil
}

// Type implements attestors.NodeVerifier.
func (*Verifier) Type() string { return tpmdevid.Type }

// Attest implements attestors.NodeVerifier.
func (v *Verifier) Attest(ctx context.Context, payload []byte, challenge attestors.Challenge) (*attestors.NodeAttestation, error) {
	att, err := v.attest(ctx, payload, challenge)
	if err != nil {
		v.cfg.Log.Warn("tpm_devid attestation refused", "error", err)
		return nil, err
	}
	return att, nil
}

func (v *Verifier) attest(ctx context.Context, payload []byte, challenge attestors.Challenge) (*attestors.NodeAttestation, error) {
	p, err := tpmdevid.ParsePayload(payload)
	if err != nil {
		return nil, rejected(err)
	}
	now := v.cfg.Clock.Now()
	devID, chains, err := verifyDevIDCert(p.DevIDCert, v.cfg.DevIDRoots, now)
	if err != nil {
		return nil, rejected(err)
	}
	ek, err := checkResidency(p, devID, v.cfg.EKRoots, now)
	if err != nil {
		return nil, rejected(err)
	}
	cred, secret, err := ek.credentialChallenge()
	if err != nil {
		return nil, fmt.Errorf("tpm_devid: making the credential activation challenge: %w", err)
	}
	nonce := make([]byte, tpmdevid.NonceSize)
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("tpm_devid: nonce: %w", err)
	}
	c, err := json.Marshal(tpmdevid.Challenge{DevID: nonce, CredActivation: cred})
	if err != nil {
		return nil, err
	}
	answer, err := challenge(ctx, c)
	if err != nil {
		return nil, err
	}
	r, err := tpmdevid.ParseResponse(answer)
	if err != nil {
		return nil, rejected(err)
	}
	if err := checkDevIDSignature(devID, nonce, r.DevID); err != nil {
		return nil, rejected(err)
	}
	if subtle.ConstantTimeCompare(secret, r.CredActivation) != 1 {
		return nil, rejected(errors.New("the credential activation answer is not this attestation's secret: a replayed answer, or the attestation key is not in the TPM of the EK certificate"))
	}
	id, err := tpmdevid.AgentID(v.cfg.TrustDomain, devID)
	if err != nil {
		return nil, err
	}
	return &attestors.NodeAttestation{AgentID: id, Selectors: tpmdevid.Selectors(devID, chains), CanReattest: true}, nil
}

func rejected(err error) error {
	return fmt.Errorf("%w: tpm_devid: %v", attestors.ErrRejected, err)
}

// verifyDevIDCert parses the chain and verifies it against the DevID CAs.
func verifyDevIDCert(ders [][]byte, roots *x509.CertPool, now time.Time) (*x509.Certificate, [][]*x509.Certificate, error) {
	leaf, err := x509.ParseCertificate(ders[0])
	if err != nil {
		return nil, nil, fmt.Errorf("DevID certificate: %w", err)
	}
	inter := x509.NewCertPool()
	for i, der := range ders[1:] {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return nil, nil, fmt.Errorf("DevID intermediate certificate %d: %w", i+1, err)
		}
		inter.AddCert(c)
	}
	chains, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, CurrentTime: now,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
	if err != nil {
		return nil, nil, explainVerify("DevID certificate", leaf, "devid_ca_path", err)
	}
	return leaf, chains, nil
}

// explainVerify says which check a certificate failed, in the operator's terms.
func explainVerify(what string, c *x509.Certificate, caField string, err error) error {
	// EK certificates have an empty subject (the TPM is named in subjectAltName).
	name := fmt.Sprintf("%q", c.Subject.CommonName)
	if c.Subject.CommonName == "" {
		name = "(serial " + c.SerialNumber.Text(16) + ")"
	}
	var unknown x509.UnknownAuthorityError
	var invalid x509.CertificateInvalidError
	switch {
	case errors.As(err, &unknown):
		return fmt.Errorf("%s %s is issued by %q, which is not signed by a CA in the server's %s: add that CA there or provision a certificate from one of them", what, name, c.Issuer.CommonName, caField)
	case errors.As(err, &invalid) && invalid.Reason == x509.Expired:
		return fmt.Errorf("%s %s is not valid now (valid %s to %s): provision a new one", what, name,
			c.NotBefore.UTC().Format(time.RFC3339), c.NotAfter.UTC().Format(time.RFC3339))
	}
	return fmt.Errorf("%s %s does not verify against %s: %w", what, name, caField, err)
}
