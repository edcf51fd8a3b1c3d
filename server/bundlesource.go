package server

import (
	"context"
	"crypto/x509"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/spire-api-sdk/proto/spire/api/types"

	"github.com/lanyard-dev/lanyard/server/api"
	"github.com/lanyard-dev/lanyard/server/datastore"
)

// bundleSource keeps the current trust bundle in memory for TLS verification and for
// pushing to agents. It re-reads the datastore when told something changed (Notify) and
// every pollInterval, which also picks up changes made by other servers.
type bundleSource struct {
	td           spiffeid.TrustDomain
	store        datastore.BundleStore
	log          *slog.Logger
	pollInterval time.Duration
	kick         chan struct{}

	mu          sync.RWMutex
	bundle      *datastore.Bundle
	authorities []*x509.Certificate
	federated   map[string]uint64 // trust domain → sequence, to notice federated changes
	subs        map[chan struct{}]struct{}
}

func newBundleSource(td spiffeid.TrustDomain, store datastore.BundleStore, log *slog.Logger) *bundleSource {
	return &bundleSource{td: td, store: store, log: log, pollInterval: time.Second,
		kick: make(chan struct{}, 1), subs: map[chan struct{}]struct{}{}}
}

// Notify asks for a re-read now.
func (b *bundleSource) Notify() {
	select {
	case b.kick <- struct{}{}:
	default:
	}
}

func (b *bundleSource) run(ctx context.Context) {
	t := time.NewTicker(b.pollInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-b.kick:
		}
		if err := b.load(ctx); err != nil && ctx.Err() == nil {
			b.log.Warn("reloading trust bundle", "error", err)
		}
	}
}

// load re-reads the bundles and signals subscribers if any sequence number changed.
func (b *bundleSource) load(ctx context.Context) error {
	own, err := b.store.GetBundle(ctx, b.td.Name())
	if err != nil {
		return err
	}
	all, _, err := b.store.ListBundles(ctx, datastore.Page{})
	if err != nil {
		return err
	}
	fed := make(map[string]uint64, len(all))
	for _, x := range all {
		if x.TrustDomain != b.td.Name() {
			fed[x.TrustDomain] = x.SequenceNumber
		}
	}
	var certs []*x509.Certificate
	for _, a := range own.X509Authorities {
		c, err := x509.ParseCertificate(a.DER)
		if err != nil {
			b.log.Error("trust bundle holds an unparsable certificate; skipping it", "error", err)
			continue
		}
		certs = append(certs, c)
	}
	b.mu.Lock()
	changed := b.bundle == nil || b.bundle.SequenceNumber != own.SequenceNumber || !sameSequences(b.federated, fed)
	b.bundle, b.authorities, b.federated = own, certs, fed
	var subs []chan struct{}
	if changed {
		for ch := range b.subs {
			subs = append(subs, ch)
		}
	}
	b.mu.Unlock()
	for _, ch := range subs {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
	return nil
}

func sameSequences(a, b map[string]uint64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func (b *bundleSource) x509Authorities() []*x509.Certificate {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return b.authorities
}

// Bundle returns the own bundle and its sequence number.
func (b *bundleSource) Bundle(context.Context) (*types.Bundle, uint64, error) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	if b.bundle == nil {
		return nil, 0, errors.New("trust bundle not loaded yet")
	}
	return api.BundleToProto(b.bundle, nil), b.bundle.SequenceNumber, nil
}

// FederatedBundles returns the stored bundles of the given trust domains; unknown ones are skipped.
func (b *bundleSource) FederatedBundles(ctx context.Context, trustDomains []string) ([]*types.Bundle, error) {
	var out []*types.Bundle
	for _, td := range trustDomains {
		fb, err := b.store.GetBundle(ctx, td)
		if errors.Is(err, datastore.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, api.BundleToProto(fb, nil))
	}
	return out, nil
}

// Subscribe returns a channel signalled (coalescing) after any bundle changed.
func (b *bundleSource) Subscribe() (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	b.mu.Lock()
	b.subs[ch] = struct{}{}
	b.mu.Unlock()
	return ch, func() {
		b.mu.Lock()
		delete(b.subs, ch)
		b.mu.Unlock()
	}
}
