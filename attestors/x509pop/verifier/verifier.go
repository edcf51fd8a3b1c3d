package verifier

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"text/template"
	"time"

	"github.com/spiffe/go-spiffe/v2/bundle/x509bundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"k8s.io/utils/clock"

	"github.com/lanyard-dev/lanyard/attestors"
	"github.com/lanyard-dev/lanyard/attestors/x509pop"
	"github.com/lanyard-dev/lanyard/internal/pemcert"
)

// Modes: which CAs the node certificates must chain to.
const (
	ModeExternalPKI = "external_pki" // the CAs of ca_bundle_paths
	ModeSPIFFE      = "spiffe"       // the server's own trust bundle (X.509-SVIDs it issued)
)

// Defaults, SPIRE's.
const (
	DefaultSVIDPrefix       = "/spire-exchange/"
	DefaultMaxIntermediates = 4
	DefaultMaxRSAKeySize    = 8192
	// DefaultChallengeTimeout bounds the time between a challenge and its answer: an
	// answer held back longer is refused as stale.
	DefaultChallengeTimeout = time.Minute
)

// Config configures the verifier; zero values take the defaults.
type Config struct {
	// TrustDomain is the server's trust domain; agent IDs are minted in it.
	TrustDomain spiffeid.TrustDomain
	// Mode is ModeExternalPKI (default) or ModeSPIFFE.
	Mode string
	// CABundlePaths are PEM files of the CAs node certificates chain to (external_pki,
	// required there). Read once, in New.
	CABundlePaths []string
	// Bundle is the server's own trust bundle (spiffe mode, required there).
	Bundle x509bundle.Source
	// SVIDPrefix (spiffe mode) is the path prefix node SVIDs must have; it is cut off
	// before the template sees .SVIDPathTrimmed. nil means DefaultSVIDPrefix, "" any.
	SVIDPrefix *string
	// AgentPathTemplate renders the agent ID's path after /spire/agent.
	AgentPathTemplate string
	// MaxIntermediates bounds the certificates sent after the leaf.
	MaxIntermediates int
	// MaxRSAKeySize bounds RSA keys in the chain, in bits (big keys are slow to verify).
	MaxRSAKeySize int
	// ChallengeTimeout: see DefaultChallengeTimeout.
	ChallengeTimeout time.Duration
	// Clock is the time certificates are checked at. Default the real clock.
	Clock clock.PassiveClock
	// Log receives one line per attestation outcome. Default: discarded.
	Log *slog.Logger
}

// Verifier is the server half of x509pop. It is safe for concurrent use.
type Verifier struct {
	cfg   Config
	roots *x509.CertPool // external_pki
	tmpl  *template.Template
}

var _ attestors.NodeVerifier = (*Verifier)(nil)

// New checks cfg and reads the CA bundles.
func New(cfg Config) (*Verifier, error) {
	if cfg.TrustDomain.IsZero() {
		return nil, errors.New("x509pop: trust domain is not set")
	}
	if cfg.Mode == "" {
		cfg.Mode = ModeExternalPKI
	}
	v := &Verifier{cfg: cfg}
	switch cfg.Mode {
	case ModeExternalPKI:
		if len(cfg.CABundlePaths) == 0 {
			return nil, errors.New("x509pop: ca_bundle_path is required in external_pki mode: name the PEM file of the CAs that issue node certificates")
		}
		v.roots = x509.NewCertPool()
		for _, p := range cfg.CABundlePaths {
			certs, err := pemcert.ReadFile(p)
			if err != nil {
				return nil, fmt.Errorf("x509pop: ca_bundle_path: %w", err)
			}
			for _, c := range certs {
				v.roots.AddCert(c)
			}
		}
	case ModeSPIFFE:
		if len(cfg.CABundlePaths) > 0 {
			return nil, errors.New("x509pop: ca_bundle_path cannot be used in spiffe mode, which trusts the server's own bundle: remove one")
		}
		if cfg.Bundle == nil {
			return nil, errors.New("x509pop: spiffe mode needs the server's trust bundle")
		}
	default:
		return nil, fmt.Errorf("x509pop: mode %q: use external_pki or spiffe", cfg.Mode)
	}
	text := cfg.AgentPathTemplate
	if text == "" {
		text = DefaultPathTemplate
		if cfg.Mode == ModeSPIFFE {
			text = DefaultSPIFFEPathTemplate
		}
	}
	tmpl, err := ParsePathTemplate(text)
	if err != nil {
		return nil, fmt.Errorf("x509pop: %w", err)
	}
	v.tmpl = tmpl
	if v.cfg.SVIDPrefix == nil {
		p := DefaultSVIDPrefix
		v.cfg.SVIDPrefix = &p
	} else if p := *v.cfg.SVIDPrefix; p != "" && !strings.HasSuffix(p, "/") {
		p += "/"
		v.cfg.SVIDPrefix = &p
	}
	if v.cfg.MaxIntermediates <= 0 {
		v.cfg.MaxIntermediates = DefaultMaxIntermediates
	}
	if v.cfg.MaxRSAKeySize <= 0 {
		v.cfg.MaxRSAKeySize = DefaultMaxRSAKeySize
	}
	if v.cfg.ChallengeTimeout <= 0 {
		v.cfg.ChallengeTimeout = DefaultChallengeTimeout
	}
	if v.cfg.Clock == nil {
		v.cfg.Clock = clock.RealClock{}
	}
	if v.cfg.Log == nil {
		v.cfg.Log = slog.New(slog.DiscardHandler)
	}
	return v, nil
}

// Type implements attestors.NodeVerifier.
func (*Verifier) Type() string { return x509pop.Type }

// Attest checks the node certificate's chain at the clock's time, then challenges the
// agent to sign a fresh nonce with its key. Every attestation, re-attestation included,
// checks both again, so a node whose certificate expired or whose CA was removed from the
// configuration is refused at its next renewal.
func (v *Verifier) Attest(ctx context.Context, payload []byte, challenge attestors.Challenge) (*attestors.NodeAttestation, error) {
	att, err := v.attest(ctx, payload, challenge)
	if err != nil {
		v.cfg.Log.Warn("x509pop attestation failed", "error", err)
		return nil, err
	}
	v.cfg.Log.Info("x509pop attestation succeeded", "agent_id", att.AgentID.String())
	return att, nil
}

func (v *Verifier) attest(ctx context.Context, payload []byte, challenge attestors.Challenge) (*attestors.NodeAttestation, error) {
	leaf, rest, err := x509pop.ParsePayload(payload)
	if err != nil {
		return nil, reject("%v", err)
	}
	chains, err := v.verifyChain(leaf, rest)
	if err != nil {
		return nil, err
	}
	svidPath, err := v.svidPath(leaf)
	if err != nil {
		return nil, err
	}
	if err := v.prove(ctx, leaf, challenge); err != nil {
		return nil, err
	}
	sans := sanSelectors(v.cfg.TrustDomain, leaf)
	id, err := agentID(v.cfg.TrustDomain, v.tmpl, newPathData(v.cfg.TrustDomain, leaf, svidPath, sans))
	if err != nil {
		return nil, reject("%v", err)
	}
	return &attestors.NodeAttestation{AgentID: id, Selectors: selectors(leaf, chains, sans), CanReattest: true}, nil
}

// prove challenges the agent and checks its answer.
func (v *Verifier) prove(ctx context.Context, leaf *x509.Certificate, challenge attestors.Challenge) error {
	c, err := x509pop.NewChallenge(leaf)
	if err != nil {
		return reject("%s: %v", describe(leaf), err)
	}
	b, err := json.Marshal(c)
	if err != nil {
		return fmt.Errorf("x509pop: %w", err)
	}
	if challenge == nil {
		return errors.New("x509pop: the server gave no way to challenge the agent")
	}
	sent := v.cfg.Clock.Now()
	answer, err := challenge(ctx, b)
	if err != nil {
		return fmt.Errorf("x509pop: challenging the agent: %w", err)
	}
	if late := v.cfg.Clock.Since(sent); late > v.cfg.ChallengeTimeout {
		return reject("the challenge response came %s after the challenge, over the limit of %s: it is stale", late, v.cfg.ChallengeTimeout)
	}
	r, err := x509pop.ParseResponse(answer)
	if err != nil {
		return reject("%v", err)
	}
	if err := x509pop.Verify(leaf.PublicKey, c, r); err != nil {
		return reject("%s: %v", describe(leaf), err)
	}
	return nil
}

// reject is a refusal of the node's evidence (PermissionDenied at the API).
func reject(format string, args ...any) error {
	return fmt.Errorf("%w: x509pop: "+format, append([]any{attestors.ErrRejected}, args...)...)
}

// describe names a certificate in messages: its subject and fingerprint.
func describe(c *x509.Certificate) string {
	return fmt.Sprintf("node certificate %q (fingerprint %s)", c.Subject.String(), attestors.CertFingerprint(c))
}
