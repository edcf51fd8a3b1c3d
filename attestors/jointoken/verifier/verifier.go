package verifier

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"k8s.io/utils/clock"

	"github.com/lanyard-dev/lanyard/attestors"
	"github.com/lanyard-dev/lanyard/attestors/jointoken"
	"github.com/lanyard-dev/lanyard/server/datastore"
)

// TokenTaker atomically consumes a join token.
type TokenTaker interface {
	TakeJoinToken(ctx context.Context, token string) (*datastore.JoinToken, error)
}

// Verifier is the server half.
type Verifier struct {
	TrustDomain spiffeid.TrustDomain
	Tokens      TokenTaker
	// Clock tells whether a token expired. Default: the real clock.
	Clock clock.PassiveClock
}

// Type implements attestors.NodeVerifier.
func (*Verifier) Type() string { return jointoken.Type }

// Attest consumes the token, so a second attestation with it fails even if the first one
// failed later on: a leaked token is worth at most one agent.
func (v *Verifier) Attest(ctx context.Context, payload []byte, _ attestors.Challenge) (*attestors.NodeAttestation, error) {
	token := string(payload)
	if err := jointoken.ValidateToken(token); err != nil {
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
	id, err := jointoken.AgentID(v.TrustDomain, token)
	if err != nil {
		return nil, err
	}
	return &attestors.NodeAttestation{AgentID: id}, nil
}

func (v *Verifier) now() time.Time {
	if v.Clock != nil {
		return v.Clock.Now()
	}
	return time.Now()
}
