package cache

import (
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spiffe/go-spiffe/v2/bundle/spiffebundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"k8s.io/utils/clock"

	"github.com/lanyard-dev/lanyard/attestors"
)

// Cache holds the agent's entries, SVIDs and bundles. It is safe for concurrent use;
// readers never wait for subscribers, and writers never wait for readers to keep up.
type Cache struct {
	td  spiffeid.TrustDomain
	log *slog.Logger
	// now decides which SVIDs have expired; an expired SVID is never served, even if the
	// server has been unreachable too long to renew it.
	now func() time.Time

	mu        sync.RWMutex
	records   map[string]*record // by entry ID
	index     selectorIndex
	subs      map[attestors.Selector]map[*Subscription]struct{} // a subscription under each of its selectors
	allSubs   map[*Subscription]struct{}
	bundle    *Bundle
	federated map[spiffeid.TrustDomain]*Bundle
	tainted   map[string]bool // subject key IDs of tainted X.509 authorities
	// taintedWIT are the key IDs of tainted WIT authorities.
	taintedWIT map[string]bool
	// witOff: the server issues no WIT-SVIDs for now, so none is pending (SetWITMinting).
	witOff bool
	// witWanted receives (coalescing) when entries become wanted for WIT-SVIDs.
	witWanted chan struct{}
	// quietUntil and witQuietUntil (unix nanoseconds, 0: unknown) are when the first
	// X.509-SVID and WIT-SVID turn due if nothing changes (see due).
	quietUntil, witQuietUntil atomic.Int64
}

// record is an entry as the cache serves it.
type record struct {
	entry *Entry
	sels  []attestors.Selector // distinct, sorted
	key   attestors.Selector   // the one selector the entry is indexed under
	pos   int                  // its position in that index bucket
	fed   []spiffeid.TrustDomain
	svid  *X509SVID
	wit   *WITSVID
	// wantWIT: a workload has asked for this entry's WIT-SVIDs, so it is minted (and
	// renewed) from then on; entries no workload asks WIT-SVIDs of get none (see DueWIT).
	wantWIT bool
}

// New returns an empty cache for trust domain td. clk decides which SVIDs have expired;
// nil: the real clock.
func New(td spiffeid.TrustDomain, log *slog.Logger, clk clock.PassiveClock) *Cache {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if clk == nil {
		clk = clock.RealClock{}
	}
	return &Cache{
		td: td, log: log, now: clk.Now,
		records:   map[string]*record{},
		index:     selectorIndex{},
		subs:      map[attestors.Selector]map[*Subscription]struct{}{},
		allSubs:   map[*Subscription]struct{}{},
		federated: map[spiffeid.TrustDomain]*Bundle{},
		witWanted: make(chan struct{}, 1),
	}
}

// UpdateEntries applies a change to the entry set: upserted entries replace those with
// the same ID, deletedIDs are removed, and with full the upserted entries become the
// whole set. An entry whose SPIFFE ID changed loses its SVID until a new one arrives;
// other changes keep it (it still proves the same identity).
func (c *Cache) UpdateEntries(upserted []*Entry, deletedIDs []string, full bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.quietLocked()
	if full {
		keep := make(map[string]struct{}, len(upserted))
		for _, e := range upserted {
			keep[e.ID] = struct{}{}
		}
		for id := range c.records {
			if _, ok := keep[id]; !ok {
				c.removeLocked(id)
			}
		}
	}
	for _, id := range deletedIDs {
		c.removeLocked(id)
	}
	for _, e := range upserted {
		c.upsertLocked(e)
	}
}

func (c *Cache) removeLocked(id string) {
	r, ok := c.records[id]
	if !ok {
		return
	}
	delete(c.records, id)
	c.index.remove(r)
	c.notifyLocked(r)
}

func (c *Cache) upsertLocked(e *Entry) {
	if e == nil || e.ID == "" {
		c.log.Warn("ignoring an entry without an ID")
		return
	}
	old := c.records[e.ID]
	if old != nil && sameEntry(old.entry, e) {
		// Unchanged (a full resync): keep the old pointer so subscribers see no change.
		return
	}
	r := &record{entry: e, sels: distinctSorted(e.Selectors)}
	for _, name := range e.FederatesWith {
		td, err := spiffeid.TrustDomainFromString(name)
		if err != nil {
			c.log.Warn("entry federates with an invalid trust domain; ignoring it", "entry_id", e.ID, "trust_domain", name, "error", err)
			continue
		}
		if td != c.td && !slices.Contains(r.fed, td) {
			r.fed = append(r.fed, td)
		}
	}
	if old != nil {
		r.wantWIT = old.wantWIT
		if old.svid != nil && old.svid.ID.String() == e.SPIFFEID {
			r.svid = old.svid
		}
		if old.wit != nil && old.wit.ID.String() == e.SPIFFEID {
			r.wit = old.wit
		}
		c.index.remove(old)
		c.notifyLocked(old)
	}
	c.records[e.ID] = r
	if len(r.sels) == 0 {
		// No workload can prove an empty set of properties; SPIRE refuses such entries.
		c.log.Warn("entry has no selectors and will match no workload", "entry_id", e.ID)
		return
	}
	c.index.add(r)
	c.notifyLocked(r)
}

// Entries returns a snapshot of all entries, sorted by ID.
func (c *Cache) Entries() []*Entry {
	c.mu.RLock()
	out := make([]*Entry, 0, len(c.records))
	for _, r := range c.records {
		out = append(out, r.entry)
	}
	c.mu.RUnlock()
	slices.SortFunc(out, func(a, b *Entry) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// Counts returns how many entries the cache holds and how many of them have an
// unexpired X.509-SVID: what a metrics scrape reports. It walks every record, so it is
// for occasional callers, not the Workload API's hot path.
func (c *Cache) Counts() (entries, svids int) {
	now := c.now()
	c.mu.RLock()
	defer c.mu.RUnlock()
	for _, r := range c.records {
		if r.svid != nil && now.Before(r.svid.ExpiresAt) {
			svids++
		}
	}
	return len(c.records), svids
}

// UpdateSVIDs stores new or rotated SVIDs. SVIDs for unknown entries, or naming another
// SPIFFE ID than their entry now has (minted before an update), are ignored. One minted
// for an older revision of its entry is stored (it proves the same identity) and stays
// due (see Due).
func (c *Cache) UpdateSVIDs(svids []*X509SVID) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.quietLocked()
	for _, s := range svids {
		if s == nil {
			continue
		}
		r, ok := c.records[s.EntryID]
		if !ok {
			c.log.Debug("ignoring an SVID for an entry the agent no longer has", "entry_id", s.EntryID)
			continue
		}
		if s.ID.String() != r.entry.SPIFFEID {
			c.log.Warn("ignoring an SVID that does not match its entry's SPIFFE ID", "entry_id", s.EntryID,
				"svid_id", s.ID.String(), "entry_spiffe_id", r.entry.SPIFFEID)
			continue
		}
		if r.svid == s {
			continue
		}
		r.svid = s
		c.notifyLocked(r)
	}
}

// SetBundle sets the agent's own trust domain bundle. A bundle for another trust domain
// is refused (logged); an unchanged bundle notifies nobody.
func (c *Cache) SetBundle(b *spiffebundle.Bundle) {
	if b == nil {
		return
	}
	if b.TrustDomain() != c.td {
		c.log.Error("refusing a bundle for another trust domain as the agent's own", "trust_domain", b.TrustDomain().Name())
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.bundle != nil && c.bundle.Bundle.Equal(b) {
		return
	}
	nb, err := newBundle(b.Clone())
	if err != nil {
		c.log.Error("keeping the previous bundle", "error", err)
		return
	}
	c.bundle = nb
	c.notifyAllLocked()
}

// SetFederatedBundles replaces the set of foreign trust domain bundles.
func (c *Cache) SetFederatedBundles(bs map[spiffeid.TrustDomain]*spiffebundle.Bundle) {
	c.mu.Lock()
	defer c.mu.Unlock()
	next := make(map[spiffeid.TrustDomain]*Bundle, len(bs))
	changed := false
	for td, b := range bs {
		if b == nil || td == c.td || b.TrustDomain() != td {
			c.log.Warn("ignoring a federated bundle keyed by the wrong trust domain", "trust_domain", td.Name())
			continue
		}
		if old, ok := c.federated[td]; ok && old.Bundle.Equal(b) {
			next[td] = old
			continue
		}
		nb, err := newBundle(b.Clone())
		if err != nil {
			c.log.Warn("ignoring an unusable federated bundle", "error", err)
			continue
		}
		next[td], changed = nb, true
	}
	if !changed && len(next) == len(c.federated) {
		return
	}
	c.federated = next
	c.notifyAllLocked()
}

// Bundles returns the own bundle (nil if none yet) and all federated bundles.
func (c *Cache) Bundles() (*Bundle, map[spiffeid.TrustDomain]*Bundle) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	fed := make(map[spiffeid.TrustDomain]*Bundle, len(c.federated))
	for td, b := range c.federated {
		fed[td] = b
	}
	return c.bundle, fed
}

// Match returns what a workload with the given selectors is entitled to now: every
// entry with an SVID whose selectors are all among the workload's.
func (c *Cache) Match(selectors []attestors.Selector) *WorkloadUpdate {
	set := selectorSet(selectors)
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.updateLocked(set)
}

func (c *Cache) updateLocked(set map[attestors.Selector]struct{}) *WorkloadUpdate {
	u := &WorkloadUpdate{Bundle: c.bundle}
	now := c.now()
	var matched []*record
	for s := range set {
		for _, r := range c.index[s] {
			x509OK := r.svid != nil && now.Before(r.svid.ExpiresAt)
			witOK := r.wit != nil && now.Before(r.wit.ExpiresAt)
			pending := !witOK && r.wantWIT && !c.witOff
			if (x509OK || witOK || pending) && r.within(set) {
				u.WITPending = u.WITPending || pending
				if x509OK || witOK {
					matched = append(matched, r)
				}
			}
		}
	}
	slices.SortFunc(matched, func(a, b *record) int {
		if n := strings.Compare(a.entry.SPIFFEID, b.entry.SPIFFEID); n != 0 {
			return n
		}
		return strings.Compare(a.entry.ID, b.entry.ID)
	})
	u.Identities = make([]Identity, 0, len(matched))
	u.WITs = witsLocked(matched, now)
	var hints map[string]struct{}
	for _, r := range matched {
		for _, td := range r.fed {
			if b, ok := c.federated[td]; ok {
				if u.FederatedBundles == nil {
					u.FederatedBundles = map[spiffeid.TrustDomain]*Bundle{}
				}
				u.FederatedBundles[td] = b
			}
		}
		if r.svid == nil || !now.Before(r.svid.ExpiresAt) {
			continue
		}
		if h := r.entry.Hint; h != "" {
			if hints == nil {
				hints = map[string]struct{}{}
			}
			if _, dup := hints[h]; dup {
				continue
			}
			hints[h] = struct{}{}
		}
		u.Identities = append(u.Identities, Identity{Entry: r.entry, SVID: r.svid})
	}
	return u
}

func sameEntry(a, b *Entry) bool {
	return a.ID == b.ID && a.SPIFFEID == b.SPIFFEID && a.ParentID == b.ParentID &&
		slices.Equal(a.Selectors, b.Selectors) && slices.Equal(a.FederatesWith, b.FederatesWith) &&
		a.Hint == b.Hint && a.RevisionNumber == b.RevisionNumber && a.X509SVIDTTL == b.X509SVIDTTL &&
		a.JWTSVIDTTL == b.JWTSVIDTTL && a.Admin == b.Admin && a.Downstream == b.Downstream &&
		slices.Equal(a.DNSNames, b.DNSNames) && a.ExpiresAt == b.ExpiresAt
}
