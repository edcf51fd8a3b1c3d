package cache

import (
	"math"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/lanyard-dev/lanyard/internal/renew"
	"github.com/lanyard-dev/lanyard/internal/spireid"
)

// WITSVID is an entry's WIT-SVID with the private key its "cnf" claim names, in the wire
// form the Workload API serves (FetchWITSVID).
type WITSVID struct {
	EntryID string
	ID      spiffeid.ID
	// Revision is the entry's RevisionNumber the SVID was minted for (see X509SVID).
	Revision  int64
	IssuedAt  time.Time
	ExpiresAt time.Time // the token's exp
	// Kid is the key ID of the server key that signed it: the SVID is replaced at once
	// when the bundle marks that WIT authority tainted.
	Kid string
	// Token is the compact JWS; KeyJWK the workload's private key as an RFC 7517 JWK.
	// KeyJWK is secret: never log it.
	Token  string
	KeyJWK string
}

// WITIdentity is one WIT-SVID a workload is entitled to.
type WITIdentity struct {
	Entry *Entry
	SVID  *WITSVID
}

// DueWIT is Due for WIT-SVIDs: the entries some workload has asked WIT-SVIDs of
// (SubscribeWIT) whose WIT-SVID must be minted at now because there is none, or it is
// stale by the same rule as an X.509-SVID's (older entry revision, past half its
// lifetime, signed by a tainted WIT authority).
func (c *Cache) DueWIT(now time.Time) []*Entry {
	return c.due(&c.witQuietUntil, now, func(r *record) (bool, time.Time) {
		s := r.wit
		switch {
		case !r.wantWIT:
			return false, time.Time{}
		case s == nil || c.taintedWIT[s.Kid]:
			return true, time.Time{}
		}
		return c.staleLocked(s.Revision, r.entry.RevisionNumber, s.IssuedAt, s.ExpiresAt, now)
	})
}

// due returns, sorted by ID, the workload entries (not node aliases) stale says are due
// at now; stale also says when a record that is not due will be (zero: not by time).
// quietUntil is when the last walk that found nothing due said the first record turns
// due: before then the walk is skipped. Changes that can make a record due reset it
// (quietLocked).
func (c *Cache) due(quietUntil *atomic.Int64, now time.Time, stale func(*record) (bool, time.Time)) []*Entry {
	if q := quietUntil.Load(); q != 0 && !now.After(time.Unix(0, q)) {
		return nil
	}
	server := spireid.Server(c.td).String()
	c.mu.RLock()
	var out []*Entry
	var next time.Time
	for _, r := range c.records {
		if r.entry.ParentID == server {
			continue
		}
		due, at := stale(r)
		switch {
		case due:
			out = append(out, r.entry)
		case !at.IsZero() && (next.IsZero() || at.Before(next)):
			next = at
		}
	}
	if len(out) == 0 {
		// Stored under the read lock: no change (which takes the write lock) can fall
		// between the walk and this.
		if next.IsZero() {
			next = time.Unix(0, math.MaxInt64)
		}
		quietUntil.Store(next.UnixNano())
	}
	c.mu.RUnlock()
	slices.SortFunc(out, func(a, b *Entry) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// quietLocked makes the next Due and DueWIT walk the entries: something changed that may
// have made one due.
func (c *Cache) quietLocked() {
	c.quietUntil.Store(0)
	c.witQuietUntil.Store(0)
}

// staleLocked is the one renewal rule of entry SVIDs: minted for an older revision of the
// entry, or past half its lifetime (renew.HalfLife). When not stale it also returns when
// the SVID will be.
func (c *Cache) staleLocked(rev, entryRev int64, notBefore, expiresAt, now time.Time) (bool, time.Time) {
	half := renew.HalfLife(notBefore, expiresAt)
	return rev != entryRev || now.After(half), half
}

// UpdateWITSVIDs stores new or rotated WIT-SVIDs, with UpdateSVIDs's rules.
func (c *Cache) UpdateWITSVIDs(svids []*WITSVID) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.quietLocked()
	for _, s := range svids {
		if s == nil {
			continue
		}
		r, ok := c.records[s.EntryID]
		if !ok || s.ID.String() != r.entry.SPIFFEID {
			c.log.Debug("ignoring a WIT-SVID for an entry the agent no longer has, or of another SPIFFE ID", "entry_id", s.EntryID)
			continue
		}
		if r.wit == s {
			continue
		}
		r.wit = s
		c.notifyLocked(r)
	}
}

// wantWITLocked marks r wanted for WIT-SVIDs when s, a subscription r matches, asks for
// them, and tells the minter (WITWanted).
func (c *Cache) wantWITLocked(r *record, s *Subscription) {
	if !s.wit || r.wantWIT || len(r.sels) == 0 || !r.within(s.set) {
		return
	}
	r.wantWIT = true
	c.witQuietUntil.Store(0)
	select {
	case c.witWanted <- struct{}{}:
	default:
	}
}

// WITWanted receives (coalescing) when a workload has asked WIT-SVIDs of entries that had
// none wanted: the minter's cue to mint them now rather than at its next round.
func (c *Cache) WITWanted() <-chan struct{} { return c.witWanted }

// SetWITMinting says whether the server issues WIT-SVIDs (the minter learns it when it
// asks). While it does not, no WIT-SVID is pending, so FetchWITSVID streams without any
// answer PermissionDenied instead of waiting.
func (c *Cache) SetWITMinting(on bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.witOff == !on {
		return
	}
	c.witOff = !on
	c.notifyAllLocked()
}

// SetTaintedWIT replaces the set of tainted WIT authorities (their key IDs): WIT-SVIDs one
// of them signed are due at once, as SetTainted does for X.509.
func (c *Cache) SetTaintedWIT(kids map[string]bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.taintedWIT = kids
	c.quietLocked()
}

// TaintedWIT reports whether the bundle marks the WIT authority that signed s tainted.
func (c *Cache) TaintedWIT(s *WITSVID) bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.taintedWIT[s.Kid]
}

// witsLocked returns the unexpired WIT-SVIDs of the matched records (sorted as
// Identities), the first of those sharing a non-empty hint only.
func witsLocked(matched []*record, now time.Time) []WITIdentity {
	var out []WITIdentity
	var hints map[string]struct{}
	for _, r := range matched {
		if r.wit == nil || !now.Before(r.wit.ExpiresAt) {
			continue
		}
		if h := r.entry.Hint; h != "" {
			if _, dup := hints[h]; dup {
				continue
			}
			if hints == nil {
				hints = map[string]struct{}{}
			}
			hints[h] = struct{}{}
		}
		out = append(out, WITIdentity{Entry: r.entry, SVID: r.wit})
	}
	return out
}
