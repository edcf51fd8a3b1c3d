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

// AfterFunc calls f in its own goroutine once clk has advanced by d (at least 0), unless
// stop is called first: clock.Clock has no AfterFunc, and a fake clock must drive it.
// Call stop once; it does not wait for a running f.
func AfterFunc(clk clock.Clock, d time.Duration, f func()) (stop func()) {
	t := clk.NewTimer(max(d, 0))
	done := make(chan struct{})
	go func() {
		defer t.Stop()
		select {
		case <-t.C():
			select {
			case <-done: // stopped before the timer fired, though seen after
			default:
				f()
			}
		case <-done:
		}
	}()
	return func() { close(done) }
}
