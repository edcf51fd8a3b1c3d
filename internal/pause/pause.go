// Package pause waits on an injected clock (k8s.io/utils/clock) unless a context ends
// first: the one sleep of retry loops and renewal timers, so tests drive them with a
// fake clock instead of waiting.
package pause

import (
	"context"
	"time"

	"k8s.io/utils/clock"
)

// For waits d (at least 0) on clk; false when ctx ended first.
func For(ctx context.Context, clk clock.Clock, d time.Duration) bool {
	t := clk.NewTimer(max(d, 0))
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C():
		return true
	}
}
