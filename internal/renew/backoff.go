package renew

import (
	"math/rand/v2"
	"time"
)

// Backoff is the wait between retries: it doubles from Min to at most Max, each wait
// jittered by ±20% so that the agents of a cluster do not retry in step. The zero value
// is not ready; build one with NewBackoff.
type Backoff struct {
	min, max, d time.Duration
}

// NewBackoff returns a backoff whose first wait is about min and whose waits never exceed
// max (+20% jitter).
func NewBackoff(min, max time.Duration) *Backoff { return &Backoff{min: min, max: max} }

// Next returns the next wait and doubles the one after.
func (b *Backoff) Next() time.Duration {
	b.d = min(max(b.d*2, b.min), b.max)
	return time.Duration(float64(b.d) * (0.8 + 0.4*rand.Float64())) //nolint:gosec // jitter, not a secret
}

// Reset makes the next wait the shortest again, after a success.
func (b *Backoff) Reset() { b.d = 0 }

// FirstFailure reports whether the next wait is the first since the last reset, so that a
// retry loop logs a failure once rather than at every retry of an outage.
func (b *Backoff) FirstFailure() bool { return b.d == 0 }
