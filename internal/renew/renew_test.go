package renew

import (
	"testing"
	"time"
)

func TestHalfLife(t *testing.T) {
	nb := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	if got := HalfLife(nb, nb.Add(time.Hour)); !got.Equal(nb.Add(30 * time.Minute)) {
		t.Fatalf("HalfLife of a 1h certificate = %s, want 30m after its start", got.Sub(nb))
	}
}

func TestBackoffDoublesWithinJitterUpToMaxAndResets(t *testing.T) {
	b := NewBackoff(100*time.Millisecond, time.Second)
	if !b.FirstFailure() {
		t.Fatal("a new backoff must report its first failure")
	}
	base := []time.Duration{100, 200, 400, 800, 1000, 1000}
	for i, want := range base {
		want *= time.Millisecond
		got := b.Next()
		if got < want*8/10 || got > want*12/10 {
			t.Fatalf("wait %d = %s, want %s ±20%%", i, got, want)
		}
		if b.FirstFailure() {
			t.Fatal("FirstFailure after a wait")
		}
	}
	b.Reset()
	if !b.FirstFailure() {
		t.Fatal("Reset must make the next failure the first")
	}
	if got := b.Next(); got > 120*time.Millisecond {
		t.Fatalf("after Reset the wait is %s, want about the minimum", got)
	}
}
