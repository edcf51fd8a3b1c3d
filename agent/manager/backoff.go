package manager

import (
	"math/rand/v2"
	"time"
)

// backoff grows from 100ms to at most 1s, each wait jittered by ±20% so that the agents of
// a cluster do not retry in step. The cap is low because the waits are cheap: a server
// that is down refuses connections at once, and one that is back must see its agents
// within about a second.
type backoff struct{ d time.Duration }

const (
	backoffMin = 100 * time.Millisecond
	backoffMax = time.Second
)

func newBackoff() *backoff { return &backoff{} }

func (b *backoff) next() time.Duration {
	b.d = min(max(b.d*2, backoffMin), backoffMax)
	return time.Duration(float64(b.d) * (0.8 + 0.4*rand.Float64())) //nolint:gosec // jitter, not a secret
}

func (b *backoff) reset() { b.d = 0 }

// firstFailure reports whether the next wait is the first since the last reset, so that a
// retry loop logs a failure once rather than every second of an outage.
func (b *backoff) firstFailure() bool { return b.d == 0 }
