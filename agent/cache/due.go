package cache

import (
	"slices"
	"time"
)

// Due returns, sorted by ID, the entries whose X.509-SVID must be minted at now: those
// without one, and those whose SVID is stale because it was minted for an older revision
// of the entry, is past half its lifetime (renew.HalfLife) or was signed by an authority
// the bundle marks tainted (see SetTainted). A stale SVID is still served until its
// replacement arrives. Node aliases (entries parented to the server) name agents, not
// workloads, and are never due. A walk that finds nothing due remembers when the first
// SVID turns stale, and until then (or until the entries, SVIDs or tainted authorities
// change) Due answers without walking: the minter asks every second, and an agent holding
// 100,000 fresh SVIDs would otherwise walk them all each time.
func (c *Cache) Due(now time.Time) []*Entry {
	return c.due(&c.quietUntil, now, func(r *record) (bool, time.Time) {
		s := r.svid
		if s == nil || c.taintedLocked(s) {
			return true, time.Time{}
		}
		return c.staleLocked(s.Revision, r.entry.RevisionNumber, s.NotBefore, s.ExpiresAt, now)
	})
}

// Tainted reports whether an authority the bundle marks tainted signed s.
func (c *Cache) Tainted(s *X509SVID) bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.taintedLocked(s)
}

func (c *Cache) taintedLocked(s *X509SVID) bool {
	return slices.ContainsFunc(s.Signers, func(k string) bool { return c.tainted[k] })
}

// SetTainted replaces the set of tainted X.509 authorities (their subject key IDs, raw
// bytes as strings): SVIDs one of them signed are due at once. An operator taints an
// authority to move everybody off it (forced rotation), so waiting for half-life would
// defeat the purpose. Tainted authorities stay trusted until they are revoked.
func (c *Cache) SetTainted(keys map[string]bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.tainted = keys
	c.quietLocked()
}
