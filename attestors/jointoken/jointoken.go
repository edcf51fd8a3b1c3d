package jointoken

import (
	"context"
	"fmt"

	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/lanyard-dev/lanyard/attestors"
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
