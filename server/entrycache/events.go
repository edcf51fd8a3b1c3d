package entrycache

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"sync"
	"time"

	"github.com/lanyard-dev/lanyard/server/datastore"
)

const (
	// gapTimeout is how long a skipped event ID is watched for. With several servers on
	// one database, an event ID can become visible after higher ones (its transaction
	// committed later) or never (it rolled back); a late one shows up within seconds.
	gapTimeout = time.Minute
	// maxGaps bounds the skipped IDs watched; beyond it the next full reload catches up.
	maxGaps = 10000
)

// eventTracker remembers how far the entry event log has been applied.
type eventTracker struct {
	lastID int64
	gaps   map[int64]time.Time // skipped event IDs → when first noticed
	log    *slog.Logger
}

// pending is the outcome of reading the event log: the entries to re-read and the tracker
// state to keep once they are applied.
type pending struct {
	entryIDs map[string]struct{}
	lastID   int64
	gaps     map[int64]time.Time
}

// scan reads the events after the last applied one, and the events of watched gaps. It
// does not change the tracker; commit does, once the entries are applied.
func (t *eventTracker) scan(ctx context.Context, store datastore.EntryStore, now time.Time) (pending, error) {
	p := pending{entryIDs: map[string]struct{}{}, lastID: t.lastID, gaps: maps.Clone(t.gaps)}
	if p.gaps == nil {
		p.gaps = map[int64]time.Time{}
	}
	for id, seen := range p.gaps {
		if now.Sub(seen) > gapTimeout {
			delete(p.gaps, id)
		}
	}
	from := p.lastID
	for id := range p.gaps {
		from = min(from, id-1)
	}
	for {
		evs, err := store.ListEntryEvents(ctx, from, eventPageSize)
		if err != nil {
			return pending{}, fmt.Errorf("entrycache: list entry events after %d: %w", from, err)
		}
		for _, ev := range evs {
			p.add(ev, now, t.log)
		}
		if len(evs) < eventPageSize {
			return p, nil
		}
		from = evs[len(evs)-1].ID
	}
}

func (p *pending) add(ev datastore.EntryEvent, now time.Time, log *slog.Logger) {
	if ev.ID <= p.lastID {
		// Seen before, unless it is a gap filled in late.
		if _, ok := p.gaps[ev.ID]; ok {
			delete(p.gaps, ev.ID)
			p.entryIDs[ev.EntryID] = struct{}{}
		}
		return
	}
	if skipped := ev.ID - p.lastID - 1; skipped > 0 && p.lastID > 0 {
		if len(p.gaps)+int(min(skipped, maxGaps)) > maxGaps {
			log.Debug("too many skipped entry events to watch; the next full reload catches up", "skipped", skipped)
		} else {
			for id := p.lastID + 1; id < ev.ID; id++ {
				p.gaps[id] = now
			}
		}
	}
	p.lastID = ev.ID
	p.entryIDs[ev.EntryID] = struct{}{}
}

func (t *eventTracker) commit(p pending) {
	t.lastID, t.gaps = p.lastID, p.gaps
}

// refreshLocked applies pending events. The caller holds applyMu.
func (c *Cache) refreshLocked(ctx context.Context) error {
	p, err := c.tracker.scan(ctx, c.cfg.Store, c.cfg.Now())
	if err != nil {
		return err
	}
	if len(p.entryIDs) == 0 {
		c.tracker.commit(p)
		return nil
	}
	if len(p.entryIDs) > reloadThreshold {
		return c.reloadLocked(ctx)
	}
	ids := make([]string, 0, len(p.entryIDs))
	for id := range p.entryIDs {
		ids = append(ids, id)
	}
	entries, err := c.readEntries(ctx, ids)
	if err != nil {
		return err
	}
	c.applyEntries(ids, entries)
	c.tracker.commit(p)
	c.notify()
	return nil
}

// readEntries re-reads entries by ID; a nil result means the entry is gone. The reads run
// a few at a time, so a batch costs a few round trips rather than one per entry.
func (c *Cache) readEntries(ctx context.Context, ids []string) ([]*datastore.Entry, error) {
	out := make([]*datastore.Entry, len(ids))
	errs := make([]error, len(ids))
	sem := make(chan struct{}, readParallelism)
	var wg sync.WaitGroup
	for i, id := range ids {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			e, err := c.cfg.Store.GetEntry(ctx, id)
			if errors.Is(err, datastore.ErrNotFound) {
				return
			}
			out[i], errs[i] = e, err
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("entrycache: re-read changed entries: %w", err)
	}
	return out, nil
}

// applyEntries puts or removes (nil) entries, a chunk per write-lock hold.
func (c *Cache) applyEntries(ids []string, entries []*datastore.Entry) {
	now := c.cfg.Now()
	for start := 0; start < len(ids); start += applyChunk {
		end := min(start+applyChunk, len(ids))
		c.mu.Lock()
		for i := start; i < end; i++ {
			if entries[i] == nil {
				c.idx.remove(ids[i], c.serverID)
			} else {
				c.idx.put(entries[i], c.serverID)
			}
		}
		c.mu.Unlock()
	}
	for _, e := range entries {
		if e != nil && e.ExpiresAt != 0 && !expired(e, now) && (c.nextExpiry == 0 || e.ExpiresAt < c.nextExpiry) {
			c.nextExpiry = e.ExpiresAt
		}
	}
}

// reloadLocked replaces the index with every entry in the store. The event position is
// read first, so changes made during the listing are applied again afterwards rather than
// lost. The new index is built aside and swapped in: readers never wait for the listing.
// The caller holds applyMu.
func (c *Cache) reloadLocked(ctx context.Context) error {
	now := c.cfg.Now()
	p, err := c.tracker.scan(ctx, c.cfg.Store, now)
	if err != nil {
		return err
	}
	idx := newIndex()
	token := ""
	for {
		page, next, err := c.cfg.Store.ListEntries(ctx, datastore.EntryFilter{}, datastore.Page{Size: listPageSize, Token: token})
		if err != nil {
			return fmt.Errorf("entrycache: list entries: %w", err)
		}
		for _, e := range page {
			idx.put(e, c.serverID)
		}
		if next == "" {
			break
		}
		token = next
	}
	c.mu.Lock()
	old := c.idx
	c.idx = idx
	c.mu.Unlock()
	c.tracker.commit(p)
	c.lastReload = now
	c.nextExpiry = idx.nextExpiry(now)
	if !sameRevisions(old, idx) {
		c.notify()
	}
	return nil
}

func sameRevisions(a, b *index) bool {
	if len(a.byID) != len(b.byID) {
		return false
	}
	for id, e := range a.byID {
		if f, ok := b.byID[id]; !ok || f.RevisionNumber != e.RevisionNumber {
			return false
		}
	}
	return true
}

// nextExpiry returns the expiry of the soonest entry to expire after now, 0 when none.
func (x *index) nextExpiry(now time.Time) int64 {
	var next int64
	for _, e := range x.byID {
		if e.ExpiresAt != 0 && !expired(e, now) && (next == 0 || e.ExpiresAt < next) {
			next = e.ExpiresAt
		}
	}
	return next
}

// checkExpiryLocked signals subscribers once an entry has expired, so that Watch streams
// withdraw it although no event reported a change. The caller holds applyMu.
func (c *Cache) checkExpiryLocked() {
	now := c.cfg.Now()
	if c.nextExpiry == 0 || !time.Unix(c.nextExpiry, 0).Before(now) {
		return
	}
	c.mu.RLock()
	c.nextExpiry = c.idx.nextExpiry(now)
	c.mu.RUnlock()
	c.notify()
}
