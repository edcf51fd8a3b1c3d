package jointoken

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/lanyard-dev/lanyard/attestors"
	"github.com/lanyard-dev/lanyard/server/datastore"
)

// Type is the attestation type name, as SPIRE spells it.
const Type = "join_token"

// MaxTokenLength bounds the payload an agent may send.
const MaxTokenLength = 256

// Prover is the agent half.
type Prover struct {
	Token string
}

// Type implements attestors.NodeProver.
func (Prover) Type() string { return Type }

// Payload implements attestors.NodeProver.
func (p Prover) Payload(context.Context) ([]byte, error) {
	if err := ValidateToken(p.Token); err != nil {
		return nil, err
	}
	return []byte(p.Token), nil
}

// TokenTaker atomically consumes a join token.
type TokenTaker interface {
	TakeJoinToken(ctx context.Context, token string) (*datastore.JoinToken, error)
}

// Verifier is the server half.
type Verifier struct {
	TrustDomain spiffeid.TrustDomain
	Tokens      TokenTaker
	Now         func() time.Time
}

// Type implements attestors.NodeVerifier.
func (*Verifier) Type() string { return Type }

// Attest consumes the token, so a second attestation with it fails even if the first one
// failed later on: a leaked token is worth at most one agent.
func (v *Verifier) Attest(ctx context.Context, payload []byte, _ attestors.Challenge) (*attestors.NodeAttestation, error) {
	token := string(payload)
	if err := ValidateToken(token); err != nil {
		return nil, fmt.Errorf("%w: %v", attestors.ErrRejected, err)
	}
	jt, err := v.Tokens.TakeJoinToken(ctx, token)
	switch {
	case errors.Is(err, datastore.ErrNotFound):
		return nil, fmt.Errorf("%w: join token does not exist or has already been used", attestors.ErrRejected)
	case err != nil:
		return nil, fmt.Errorf("join token: %w", err)
	}
	if !v.now().Before(jt.ExpiresAt) {
		return nil, fmt.Errorf("%w: join token expired at %s", attestors.ErrRejected, jt.ExpiresAt.UTC().Format(time.RFC3339))
	}
	id, err := AgentID(v.TrustDomain, token)
	if err != nil {
		return nil, err
	}
	return &attestors.NodeAttestation{AgentID: id}, nil
}

func (v *Verifier) now() time.Time {
	if v.Now != nil {
		return v.Now()
	}
	return time.Now()
}

// AgentID is the ID an agent attested with token receives.
func AgentID(td spiffeid.TrustDomain, token string) (spiffeid.ID, error) {
	id, err := spiffeid.FromSegments(td, "spire", "agent", Type, token)
	if err != nil {
		return spiffeid.ID{}, fmt.Errorf("%w: join token is not usable in a SPIFFE ID: %v", attestors.ErrRejected, err)
	}
	return id, nil
}

// ValidateToken checks a token's shape: 1 to MaxTokenLength of letters, digits, '-', '_' or '.'.
func ValidateToken(token string) error {
	if token == "" || len(token) > MaxTokenLength {
		return fmt.Errorf("join token must be 1 to %d characters", MaxTokenLength)
	}
	for _, r := range token {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return fmt.Errorf("join token contains %q: only letters, digits, '-', '_' and '.' are allowed", r)
		}
	}
	return nil
}
