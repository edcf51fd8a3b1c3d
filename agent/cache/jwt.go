package cache

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// JWTMinter mints a JWT-SVID for an entry and audience, normally by asking the server.
type JWTMinter func(ctx context.Context, entryID string, audience []string) (token string, expiresAt time.Time, err error)

// jwtMintTimeout bounds one shared mint, which outlives the callers waiting for it.
const jwtMintTimeout = 30 * time.Second

// jwtSweepEvery is how often expired tokens are dropped.
const jwtSweepEvery = time.Minute

// JWTCache hands out JWT-SVIDs per (entry revision, audience set), reusing a token until
// half its lifetime has passed so a busy workload does not cost a server round trip per
// call. Concurrent requests for the same token share one mint. Safe for concurrent use.
type JWTCache struct {
	mint JWTMinter
	now  func() time.Time

	mu        sync.Mutex
	tokens    map[string]cachedJWT
	inflight  map[string]*jwtCall
	lastSweep time.Time
}

type cachedJWT struct {
	token            string
	refreshAt, expAt time.Time
}

type jwtCall struct {
	done  chan struct{}
	token string
	err   error
}

// NewJWTCache returns a cache minting through mint. now defaults to time.Now.
func NewJWTCache(mint JWTMinter, now func() time.Time) *JWTCache {
	if now == nil {
		now = time.Now
	}
	return &JWTCache{mint: mint, now: now, tokens: map[string]cachedJWT{}, inflight: map[string]*jwtCall{}}
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
	if t, ok := j.tokens[key]; ok && j.now().Before(t.refreshAt) {
		j.mu.Unlock()
		return t.token, nil
	}
	c, ok := j.inflight[key]
	if !ok {
		c = &jwtCall{done: make(chan struct{})}
		j.inflight[key] = c
		// The mint is shared, so it must not die with the first caller's context.
		go j.run(context.WithoutCancel(ctx), key, e.ID, slices.Clone(audience), c)
	}
	j.mu.Unlock()
	select {
	case <-c.done:
		return c.token, c.err
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

func (j *JWTCache) run(ctx context.Context, key, entryID string, audience []string, c *jwtCall) {
	ctx, cancel := context.WithTimeout(ctx, jwtMintTimeout)
	defer cancel()
	issued := j.now()
	token, exp, err := j.mint(ctx, entryID, audience)
	if err != nil {
		c.err = fmt.Errorf("minting JWT-SVID for entry %s: %w", entryID, err)
	} else {
		c.token = token
	}
	j.mu.Lock()
	delete(j.inflight, key)
	if err == nil && exp.After(issued) {
		j.tokens[key] = cachedJWT{token: token, refreshAt: issued.Add(exp.Sub(issued) / 2), expAt: exp}
	}
	j.sweepLocked()
	j.mu.Unlock()
	close(c.done)
}

func (j *JWTCache) sweepLocked() {
	now := j.now()
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
