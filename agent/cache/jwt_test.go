package cache

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"

	"github.com/lanyard-dev/lanyard/internal/poll"
)

// countingMinter mints "token-N" valid for ttl from the clock.
func countingMinter(clk *clocktesting.FakeClock, ttl time.Duration, n *atomic.Int32) JWTMinter {
	return func(ctx context.Context, entryID string, audience []string) (string, time.Time, error) {
		i := n.Add(1)
		return entryID + "-token-" + string(rune('0'+i)), clk.Now().Add(ttl), nil
	}
}

func TestJWTCacheReuse(t *testing.T) {
	e := entry("e1", "spiffe://example.org/a", "unix:uid:1")
	tests := []struct {
		name      string
		second    func(clk *clocktesting.FakeClock) (*Entry, []string)
		wantMints int32
	}{
		{"a token is reused before half its lifetime", func(clk *clocktesting.FakeClock) (*Entry, []string) {
			clk.Step(29 * time.Minute)
			return e, []string{"a", "b"}
		}, 1},
		{"the audience is compared as a set", func(clk *clocktesting.FakeClock) (*Entry, []string) {
			return e, []string{"b", "a", "a"}
		}, 1},
		{"a token past half its lifetime is replaced", func(clk *clocktesting.FakeClock) (*Entry, []string) {
			clk.Step(30 * time.Minute)
			return e, []string{"a", "b"}
		}, 2},
		{"another audience gets its own token", func(clk *clocktesting.FakeClock) (*Entry, []string) {
			return e, []string{"a"}
		}, 2},
		{"a changed entry gets a new token", func(clk *clocktesting.FakeClock) (*Entry, []string) {
			e2 := *e
			e2.RevisionNumber = 2
			e2.SPIFFEID = "spiffe://example.org/renamed"
			return &e2, []string{"a", "b"}
		}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := clocktesting.NewFakeClock(time.Unix(1_700_000_000, 0))
			var n atomic.Int32
			j := NewJWTCache(countingMinter(clk, time.Hour, &n), clk)
			first, err := j.Fetch(context.Background(), e, []string{"a", "b"})
			if err != nil {
				t.Fatal(err)
			}
			e2, aud := tt.second(clk)
			second, err := j.Fetch(context.Background(), e2, aud)
			if err != nil {
				t.Fatal(err)
			}
			if got := n.Load(); got != tt.wantMints {
				t.Fatalf("minted %d tokens, want %d", got, tt.wantMints)
			}
			if (tt.wantMints == 1) != (first == second) {
				t.Fatalf("tokens %q then %q", first, second)
			}
		})
	}
}

func TestJWTCacheSharesOneMintAmongConcurrentCallers(t *testing.T) {
	clk := clocktesting.NewFakeClock(time.Unix(1_700_000_000, 0))
	var n atomic.Int32
	started, release := make(chan struct{}), make(chan struct{})
	j := NewJWTCache(func(ctx context.Context, entryID string, audience []string) (string, time.Time, error) {
		n.Add(1)
		close(started)
		<-release
		return "tok", clk.Now().Add(time.Hour), nil
	}, clk)
	e := entry("e1", "spiffe://example.org/a", "unix:uid:1")

	// The first caller gives up; the mint it started still serves everyone else.
	firstCtx, cancelFirst := context.WithCancel(context.Background())
	firstErr := make(chan error, 1)
	go func() { _, err := j.Fetch(firstCtx, e, []string{"x"}); firstErr <- err }()
	<-started
	cancelFirst()
	if err := <-firstErr; !errors.Is(err, context.Canceled) {
		t.Fatalf("abandoning caller got %v", err)
	}
	var wg sync.WaitGroup
	results := make([]string, 8)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], _ = j.Fetch(context.Background(), e, []string{"x"})
		}()
	}
	close(release)
	wg.Wait()
	for _, r := range results {
		if r != "tok" {
			t.Fatalf("results %q", results)
		}
	}
	if n.Load() != 1 {
		t.Fatalf("minted %d times, want once", n.Load())
	}
}

func TestJWTCacheDoesNotCacheFailures(t *testing.T) {
	fail := true
	j := NewJWTCache(func(ctx context.Context, entryID string, audience []string) (string, time.Time, error) {
		if fail {
			return "", time.Time{}, errors.New("server unreachable")
		}
		return "tok", time.Now().Add(time.Hour), nil
	}, nil)
	e := entry("e1", "spiffe://example.org/a", "unix:uid:1")
	if _, err := j.Fetch(context.Background(), e, []string{"x"}); err == nil {
		t.Fatal("want the mint error")
	}
	fail = false
	if tok, err := j.Fetch(context.Background(), e, []string{"x"}); err != nil || tok != "tok" {
		t.Fatalf("after recovery: %q, %v", tok, err)
	}
	if _, err := j.Fetch(context.Background(), e, nil); err == nil {
		t.Fatal("an empty audience was accepted")
	}
}

// TestJWTCacheServesAValidTokenWhileTheServerIsDown: past half its lifetime a token is
// refreshed, but a failed or hanging refresh still returns it until it expires.
func TestJWTCacheServesAValidTokenWhileTheServerIsDown(t *testing.T) {
	clk := clocktesting.NewFakeClock(time.Unix(1_700_000_000, 0))
	var down, hang atomic.Bool
	release := make(chan struct{})
	j := NewJWTCache(func(ctx context.Context, entryID string, audience []string) (string, time.Time, error) {
		if hang.Load() {
			select {
			case <-release:
			case <-ctx.Done():
			}
		}
		if down.Load() {
			return "", time.Time{}, errors.New("server unreachable")
		}
		return "tok", clk.Now().Add(time.Hour), nil
	}, clk)
	t.Cleanup(j.Close)
	e := entry("e1", "spiffe://example.org/a", "unix:uid:1")
	if _, err := j.Fetch(context.Background(), e, []string{"x"}); err != nil {
		t.Fatal(err)
	}
	down.Store(true)

	clk.Step(45 * time.Minute)
	if tok, err := j.Fetch(context.Background(), e, []string{"x"}); err != nil || tok != "tok" {
		t.Fatalf("past half-life with the server down: %q, %v; want the cached token", tok, err)
	}

	hang.Store(true)
	got := make(chan error, 1)
	go func() {
		tok, err := j.Fetch(context.Background(), e, []string{"x"})
		if err == nil && tok != "tok" {
			err = errors.New("got " + tok)
		}
		got <- err
	}()
	poll.Until(t, 10*time.Second, "the caller to wait for the hanging refresh", clk.HasWaiters)
	clk.Step(jwtStaleWait)
	if err := <-got; err != nil {
		t.Fatalf("with the refresh hanging: %v; want the cached token", err)
	}
	hang.Store(false)
	close(release)

	clk.Step(15 * time.Minute)
	if _, err := j.Fetch(context.Background(), e, []string{"x"}); err == nil {
		t.Fatal("an expired token was served")
	}
}
