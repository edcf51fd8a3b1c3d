// Package poll lets tests wait for a condition by polling it against a deadline, instead
// of sleeping for a guessed time.
package poll

import (
	"testing"
	"time"
)

// Until checks cond every 20ms until it holds, and fails t if within passes first.
func Until(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", within, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
