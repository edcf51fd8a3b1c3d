package cache

import (
	"context"
	"encoding/base64"
	"sync/atomic"
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"
)

// A token signed by a tainted key is not served again, even though it is fresh: the next
// Fetch mints a new one. Tokens of other keys stay cached.
func TestJWTCacheForgetsTokensOfTaintedKeys(t *testing.T) {
	clk := clocktesting.NewFakeClock(time.Unix(1_700_000_000, 0))
	var n atomic.Int32
	kid := "old"
	j := NewJWTCache(func(ctx context.Context, entryID string, audience []string) (string, time.Time, error) {
		i := n.Add(1)
		head := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"ES256","kid":"` + kid + `"}`))
		return head + ".payload" + string(rune('0'+i)) + ".sig", clk.Now().Add(time.Hour), nil
	}, clk)
	defer j.Close()
	a, b := entry("a", "spiffe://example.org/a", "unix:uid:1"), entry("b", "spiffe://example.org/b", "unix:uid:1")
	fetch := func(e *Entry) string {
		t.Helper()
		tok, err := j.Fetch(context.Background(), e, []string{"aud"})
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	first := fetch(a)
	kid = "new"
	other := fetch(b)
	if got := j.Forget(map[string]bool{"old": true}); got != 1 {
		t.Fatalf("Forget dropped %d tokens, want the one signed by the tainted key", got)
	}
	if again := fetch(a); again == first {
		t.Fatal("a token signed by a tainted key was served again")
	}
	if again := fetch(b); again != other {
		t.Fatal("a token of an untainted key was re-minted")
	}
	if n.Load() != 3 {
		t.Fatalf("%d mints, want 3", n.Load())
	}
}
