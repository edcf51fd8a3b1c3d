package cache

import (
	"context"
	"errors"
	"sync"

	"github.com/lanyard-dev/lanyard/attestors"
)

// ErrClosed is returned by Subscription.Next after Close.
var ErrClosed = errors.New("subscription closed")

// Subscription follows what one workload is entitled to. Updates have latest-value
// semantics: a reader that falls behind skips intermediate states and writers never wait
// for it.
type Subscription struct {
	c    *Cache
	sels []attestors.Selector // distinct
	set  map[attestors.Selector]struct{}
	wit  bool // the workload asks for WIT-SVIDs: the entries it matches are minted one

	changed chan struct{} // capacity 1: "something may have changed"
	done    chan struct{}
	once    sync.Once

	last *WorkloadUpdate // owned by the single reader
}

// Subscribe starts following the workload with the given selectors. The first Next
// returns the current state at once. Close the subscription when done.
func (c *Cache) Subscribe(selectors []attestors.Selector) *Subscription {
	return c.subscribe(selectors, false)
}

// SubscribeWIT is Subscribe for a workload that asks for WIT-SVIDs: the entries it
// matches, now and while the subscription lasts, have WIT-SVIDs minted from then on
// (until the agent restarts), and its updates say when one is on its way (WITPending).
// WIT-SVIDs are minted only for entries some workload asked them of: most workloads use
// X.509-SVIDs only, and an agent holding 100,000 entries would otherwise hold (and renew)
// 100,000 unused tokens and keys.
func (c *Cache) SubscribeWIT(selectors []attestors.Selector) *Subscription {
	return c.subscribe(selectors, true)
}

func (c *Cache) subscribe(selectors []attestors.Selector, wit bool) *Subscription {
	s := &Subscription{wit: wit,
		c: c, sels: distinctSorted(selectors), set: selectorSet(selectors),
		changed: make(chan struct{}, 1), done: make(chan struct{}),
	}
	s.changed <- struct{}{}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.allSubs[s] = struct{}{}
	for _, sel := range s.sels {
		m := c.subs[sel]
		if m == nil {
			m = map[*Subscription]struct{}{}
			c.subs[sel] = m
		}
		m[s] = struct{}{}
		if wit {
			for _, r := range c.index[sel] {
				c.wantWITLocked(r, s)
			}
		}
	}
	return s
}

// Next returns the workload's current update: immediately the first time, then only
// when it differs from the last one returned. It returns ctx.Err() when ctx ends and
// ErrClosed after Close. Next is for a single reader; do not call it concurrently.
func (s *Subscription) Next(ctx context.Context) (*WorkloadUpdate, error) {
	for {
		select {
		case <-s.done:
			return nil, ErrClosed
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-s.changed:
		}
		s.c.mu.RLock()
		u := s.c.updateLocked(s.set)
		s.c.mu.RUnlock()
		if s.last != nil && u.same(s.last) {
			continue
		}
		s.last = u
		return u, nil
	}
}

// Close stops the subscription and releases it. It is safe to call more than once and
// concurrently with Next.
func (s *Subscription) Close() {
	s.once.Do(func() {
		close(s.done)
		s.c.mu.Lock()
		defer s.c.mu.Unlock()
		delete(s.c.allSubs, s)
		for _, sel := range s.sels {
			if m := s.c.subs[sel]; m != nil {
				delete(m, s)
				if len(m) == 0 {
					delete(s.c.subs, sel)
				}
			}
		}
	})
}

func (s *Subscription) signal() {
	select {
	case s.changed <- struct{}{}:
	default: // already pending: the reader will see the latest state anyway
	}
}

// notifyLocked signals the subscriptions whose workloads the record matches. They all
// hold the record's index selector, so only those need checking.
func (c *Cache) notifyLocked(r *record) {
	if len(r.sels) == 0 {
		return
	}
	for s := range c.subs[r.key] {
		if r.within(s.set) {
			c.wantWITLocked(r, s)
			s.signal()
		}
	}
}

func (c *Cache) notifyAllLocked() {
	for s := range c.allSubs {
		s.signal()
	}
}
