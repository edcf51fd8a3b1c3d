package cache

import (
	"context"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
)

// Refresh makes the next Next recompute the update now, as if something had changed:
// for a reader that must stop serving an SVID when it expires, which is no change the
// cache announces.
func (s *Subscription) Refresh() { s.signal() }

// BundleWatch follows every bundle the agent holds, its own and all federated ones,
// whoever they are for (the Delegated Identity API's bundle streams).
type BundleWatch struct {
	sub       *Subscription // no selectors: signalled by bundle changes only
	own       *Bundle
	federated map[spiffeid.TrustDomain]*Bundle
	started   bool
}

// WatchBundles starts following the bundles. The first Next returns them at once. Close
// the watch when done.
func (c *Cache) WatchBundles() *BundleWatch { return &BundleWatch{sub: c.Subscribe(nil)} }

// Next returns the own bundle (nil until the agent has one) and the federated bundles:
// immediately the first time, then only when one of them changed. Errors as
// Subscription.Next's. For a single reader.
func (w *BundleWatch) Next(ctx context.Context) (*Bundle, map[spiffeid.TrustDomain]*Bundle, error) {
	for {
		select {
		case <-w.sub.done:
			return nil, nil, ErrClosed
		case <-ctx.Done():
			return nil, nil, ctx.Err()
		case <-w.sub.changed:
		}
		own, fed := w.sub.c.Bundles()
		if w.started && own == w.own && sameBundleSet(fed, w.federated) {
			continue
		}
		w.started, w.own, w.federated = true, own, fed
		return own, fed, nil
	}
}

// Close stops the watch.
func (w *BundleWatch) Close() { w.sub.Close() }

func sameBundleSet(a, b map[spiffeid.TrustDomain]*Bundle) bool {
	if len(a) != len(b) {
		return false
	}
	for td, x := range a {
		if b[td] != x {
			return false
		}
	}
	return true
}
