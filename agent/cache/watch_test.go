package cache

import (
	"context"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/bundle/spiffebundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
)

// TestWatchBundlesSeesEveryBundle: a bundle watch sees the own bundle and every federated
// one, including those no entry federates with, and wakes for changes of either only.
func TestWatchBundlesSeesEveryBundle(t *testing.T) {
	c := New(td, nil, nil)
	ca := newCA(t, td)
	c.SetBundle(ca.bundle())
	w := c.WatchBundles()
	defer w.Close()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute) // a failure bound
	defer cancel()
	own, fed, err := w.Next(ctx)
	if err != nil || own == nil || own.TrustDomain != td || len(fed) != 0 {
		t.Fatalf("first Next: %v, %v, %v", own, fed, err)
	}

	// An entry and an SVID are no bundle change.
	c.UpdateEntries([]*Entry{entry("e1", "spiffe://example.org/w", "unix:uid:1")}, nil, true)
	c.UpdateSVIDs([]*X509SVID{ca.svid(t, "e1", "spiffe://example.org/w")})
	partner := spiffeid.RequireTrustDomainFromString("partner.org")
	c.SetFederatedBundles(map[spiffeid.TrustDomain]*spiffebundle.Bundle{partner: newCA(t, partner).bundle()})
	_, fed, err = w.Next(ctx)
	if err != nil || len(fed) != 1 || fed[partner] == nil {
		t.Fatalf("after a federated bundle arrived: %v, %v", fed, err)
	}

	c.SetBundle(newCA(t, td).bundle())
	if own2, _, err := w.Next(ctx); err != nil || own2 == own {
		t.Fatalf("after the own bundle changed: %v", err)
	}
	w.Close()
	if _, _, err := w.Next(ctx); err != ErrClosed {
		t.Fatalf("Next after Close: %v, want ErrClosed", err)
	}
}
