package cache

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"k8s.io/utils/clock"
)

// JWTMinter mints a JWT-SVID for an entry and audience, normally by asking the server.
type JWTMinter func(ctx context.Context, entryID string, audience []string) (token string, expiresAt time.Time, err error)

// jwtMintTimeout bounds one shared mint, which outlives the callers waiting for it.
const jwtMintTimeout = 30 * time.Second

// jwtSweepEvery is how often expired tokens are dropped.
const jwtSweepEvery = time.Minute

// jwtStaleWait is how long a caller holding a still-valid token waits for its refresh
// before being handed the cached one: refreshing is best effort, serving is not.
const jwtStaleWait = time.Second

// ErrJWTCacheClosed is returned by Fetch after Close.
var ErrJWTCacheClosed = errors.New("jwt-svid cache closed: the agent is shutting down")

// JWTCache hands out JWT-SVIDs per (entry revision, audience set), reusing a token until
// half its lifetime has passed so a busy workload does not cost a server round trip per
// call. Past half its lifetime a token is refreshed, but while it is valid a failed or slow
// refresh (the server is down) still returns it. Concurrent requests for the same token
// share one mint. Safe for concurrent use.
type JWTCache struct {
	mint JWTMinter
	clk  clock.Clock
	// base is the context of background mints; Close cancels it and waits for them.
	base   context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu        sync.Mutex
	tokens    map[string]cachedJWT
	inflight  map[string]*jwtCall
	lastSweep time.Time
}

type cachedJWT struct {
	token            string
	kid              string // the signing key, to forget tokens of a tainted one
	refreshAt, expAt time.Time
}

type jwtCall struct {
	done  chan struct{}
	token string
	err   error
}

// NewJWTCache returns a cache minting through mint. clk defaults to the real clock.
func NewJWTCache(mint JWTMinter, clk clock.Clock) *JWTCache {
	if clk == nil {
		clk = clock.RealClock{}
	}
	base, cancel := context.WithCancel(context.Background())
	return &JWTCache{mint: mint, clk: clk, base: base, cancel: cancel, tokens: map[string]cachedJWT{}, inflight: map[string]*jwtCall{}}
}

// Close cancels the mints in flight and waits for them to end; Fetch fails afterwards.
func (j *JWTCache) Close() {
	j.mu.Lock()
	j.cancel()
	j.mu.Unlock()
	j.wg.Wait()
}

// Fetch returns a JWT-SVID for entry e and audience. The key includes the entry's
// revision, so a changed entry (a new SPIFFE ID, say) never gets a token minted for its
// old form. Errors are not cached.
func (j *JWTCache) Fetch(ctx context.Context, e *Entry, audience []string) (string, error) {
	if len(audience) == 0 {
		return "", errors.New("jwt-svid: audience is required")
	}
	key := jwtKey(e, audience)
	j.mu.Lock()
	if j.base.Err() != nil {
		j.mu.Unlock()
		return "", ErrJWTCacheClosed
	}
	now := j.clk.Now()
	cached, ok := j.tokens[key]
	if ok && now.Before(cached.refreshAt) {
		j.mu.Unlock()
		return cached.token, nil
	}
	valid := ok && now.Before(cached.expAt)
	c, ok := j.inflight[key]
	if !ok {
		c = &jwtCall{done: make(chan struct{})}
		j.inflight[key] = c
		// The mint is shared, so it must not die with the first caller's context.
		j.wg.Add(1)
		go j.run(key, e.ID, slices.Clone(audience), c)
	}
	j.mu.Unlock()
	var stale <-chan time.Time
	if valid {
		t := j.clk.NewTimer(jwtStaleWait)
		defer t.Stop()
		stale = t.C()
	}
	select {
	case <-c.done:
		if c.err != nil && valid {
			return cached.token, nil
		}
		return c.token, c.err
	case <-stale:
		return cached.token, nil
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

func (j *JWTCache) run(key, entryID string, audience []string, c *jwtCall) {
	defer j.wg.Done()
	ctx, cancel := context.WithTimeout(j.base, jwtMintTimeout)
	defer cancel()
	issued := j.clk.Now()
	token, exp, err := j.mint(ctx, entryID, audience)
	if err != nil {
		c.err = fmt.Errorf("minting JWT-SVID for entry %s: %w", entryID, err)
	} else {
		c.token = token
	}
	j.mu.Lock()
	delete(j.inflight, key)
	if err == nil && exp.After(issued) {
		j.tokens[key] = cachedJWT{token: token, kid: tokenKid(token), refreshAt: issued.Add(exp.Sub(issued) / 2), expAt: exp}
	}
	j.sweepLocked()
	j.mu.Unlock()
	close(c.done)
}

// Forget drops the cached tokens signed by any of these key IDs, so that the next Fetch
// mints a new one, and reports how many it dropped.
func (j *JWTCache) Forget(kids map[string]bool) int {
	j.mu.Lock()
	defer j.mu.Unlock()
	n := 0
	for k, t := range j.tokens {
		if kids[t.kid] {
			delete(j.tokens, k)
			n++
		}
	}
	return n
}

// tokenKid reads the "kid" of a compact JWS header; "" when there is none.
func tokenKid(token string) string {
	head, _, _ := strings.Cut(token, ".")
	raw, err := base64.RawURLEncoding.DecodeString(head)
	if err != nil {
		return ""
	}
	var h struct {
		Kid string `json:"kid"`
	}
	if json.Unmarshal(raw, &h) != nil {
		return ""
	}
	return h.Kid
}

func (j *JWTCache) sweepLocked() {
	now := j.clk.Now()
	if now.Sub(j.lastSweep) < jwtSweepEvery {
		return
	}
	j.lastSweep = now
	for k, t := range j.tokens {
		if !now.Before(t.expAt) {
			delete(j.tokens, k)
		}
	}
}

// jwtKey identifies a token by entry revision and the audience as a set.
func jwtKey(e *Entry, audience []string) string {
	aud := slices.Clone(audience)
	slices.Sort(aud)
	aud = slices.Compact(aud)
	var b strings.Builder
	b.WriteString(e.ID)
	b.WriteByte(0)
	b.WriteString(strconv.FormatInt(e.RevisionNumber, 10))
	b.WriteByte(0)
	b.WriteString(e.SPIFFEID)
	for _, a := range aud {
		b.WriteByte(0)
		b.WriteString(a)
	}
	return b.String()
}

// Count returns how many unexpired JWT-SVIDs the cache holds (for the debug API).
func (j *JWTCache) Count() int {
	j.mu.Lock()
	defer j.mu.Unlock()
	now, n := j.clk.Now(), 0
	for _, t := range j.tokens {
		if now.Before(t.expAt) {
			n++
		}
	}
	return n
}
