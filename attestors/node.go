package attestors

import (
	"context"
	"errors"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
)

// ErrRejected marks a node attestation the verifier refused (bad, expired or reused
// evidence). The server answers such failures with PermissionDenied and the message.
var ErrRejected = errors.New("attestation rejected")

// NodeAttestation is what a server-side node attestor concluded about an agent.
type NodeAttestation struct {
	AgentID     spiffeid.ID
	Selectors   []Selector
	CanReattest bool
}

// Challenge sends a challenge to the agent being attested and returns its answer.
type Challenge func(ctx context.Context, challenge []byte) ([]byte, error)

// NodeVerifier is the server half of a node attestor: it checks the evidence an agent
// sent. Implementations are safe for concurrent use and wrap refusals with ErrRejected.
type NodeVerifier interface {
	Type() string
	Attest(ctx context.Context, payload []byte, challenge Challenge) (*NodeAttestation, error)
}

// NodeProver is the agent half of a node attestor: it produces the evidence.
type NodeProver interface {
	Type() string
	Payload(ctx context.Context) ([]byte, error)
}

// ChallengeResponder is implemented by provers whose verifier sends challenges.
type ChallengeResponder interface {
	RespondChallenge(ctx context.Context, challenge []byte) ([]byte, error)
}

// SessionCloser is implemented by provers that hold resources (a TPM session) from
// Payload to RespondChallenge; Close is called when the attestation ends, either way.
type SessionCloser interface {
	Close()
}
