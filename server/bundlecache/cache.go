package bundlecache

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"sync"
	"time"

	"github.com/spiffe/go-spiffe/v2/bundle/x509bundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/spire-api-sdk/proto/spire/api/types"
	"k8s.io/utils/clock"

	"github.com/lanyard-dev/lanyard/server/api"
	"github.com/lanyard-dev/lanyard/server/datastore"
)

// Store is what the cache reads: the revision to notice changes, the bundles to load them.
type Store interface {
	BundlesRevision(ctx context.Context) (int64, error)
	ListBundles(ctx context.Context, page datastore.Page) ([]*datastore.Bundle, string, error)
}

// Config configures a Cache.
type Config struct {
	TrustDomain spiffeid.TrustDomain
	Store       Store
	Log         *slog.Logger
	// PollInterval is how often the revision is read (default 1s): how long a change made
	// by another server can take to reach this one. Changes made through this server
	// arrive at once through Notify.
	PollInterval time.Duration
	// Clock drives the poll (default the real clock).
	Clock clock.WithTicker
}

// Cache holds the bundles. Its methods are safe for concurrent use; the protos it returns
// are shared and must not be modified.
type Cache struct {
	cfg  Config
	kick chan struct{}

	mu          sync.RWMutex
	revision    int64
	own         *types.Bundle
	federated   map[string]*types.Bundle // trust domain name → bundle
	authorities []*x509.Certificate      // the own bundle's X.509 authorities, parsed
	subs        map[chan struct{}]struct{}
}

// New loads the bundles once; it fails when the datastore holds no bundle of the own trust
// domain (the CA writes it before the cache is built).
func New(ctx context.Context, cfg Config) (*Cache, error) {
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = time.Second
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.RealClock{}
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	c := &Cache{cfg: cfg, kick: make(chan struct{}, 1), subs: map[chan struct{}]struct{}{}}
	if err := c.load(ctx); err != nil {
		return nil, err
	}
	return c, nil
}

// Notify asks for a reload now; call it after writing a bundle through this server.
func (c *Cache) Notify() {
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

// Run follows the datastore until ctx ends: it reloads on Notify, and when the revision
// read every PollInterval has moved.
func (c *Cache) Run(ctx context.Context) error {
	t := c.cfg.Clock.NewTicker(c.cfg.PollInterval)
	defer t.Stop()
	for {
		var err error
		select {
		case <-ctx.Done():
			return nil
		case <-c.kick:
			err = c.load(ctx)
		case <-t.C():
			err = c.loadIfChanged(ctx)
		}
		if err != nil && ctx.Err() == nil {
			c.cfg.Log.Warn("reloading trust bundles; serving the last ones loaded", "error", err)
		}
	}
}

func (c *Cache) loadIfChanged(ctx context.Context) error {
	rev, err := c.cfg.Store.BundlesRevision(ctx)
	if err != nil {
		return err
	}
	c.mu.RLock()
	same := rev == c.revision
	c.mu.RUnlock()
	if same {
		return nil
	}
	return c.load(ctx)
}

// load reads every bundle and signals subscribers when a sequence number changed or a
// bundle came or went. The revision is read first: a change committed during the listing
// moves it again, and the next poll reloads.
func (c *Cache) load(ctx context.Context) error {
	rev, err := c.cfg.Store.BundlesRevision(ctx)
	if err != nil {
		return err
	}
	all, err := c.list(ctx)
	if err != nil {
		return err
	}
	var own *datastore.Bundle
	federated := make(map[string]*types.Bundle, len(all))
	for _, b := range all {
		if b.TrustDomain == c.cfg.TrustDomain.Name() {
			own = b
		} else {
			federated[b.TrustDomain] = api.BundleToProto(b, nil)
		}
	}
	if own == nil {
		return fmt.Errorf("the datastore holds no bundle of %s", c.cfg.TrustDomain.Name())
	}
	certs := c.parse(own)
	ownProto := api.BundleToProto(own, nil)

	c.mu.Lock()
	changed := c.own == nil || c.own.SequenceNumber != ownProto.SequenceNumber || !sameSequences(c.federated, federated)
	c.revision, c.own, c.federated, c.authorities = rev, ownProto, federated, certs
	var subs []chan struct{}
	if changed {
		subs = make([]chan struct{}, 0, len(c.subs))
		for ch := range c.subs {
			subs = append(subs, ch)
		}
	}
	c.mu.Unlock()
	for _, ch := range subs {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
	return nil
}

func (c *Cache) list(ctx context.Context) ([]*datastore.Bundle, error) {
	var all []*datastore.Bundle
	page := datastore.Page{}
	for {
		bundles, next, err := c.cfg.Store.ListBundles(ctx, page)
		if err != nil {
			return nil, fmt.Errorf("listing bundles: %w", err)
		}
		all = append(all, bundles...)
		if next == "" {
			return all, nil
		}
		page.Token = next
	}
}

func (c *Cache) parse(own *datastore.Bundle) []*x509.Certificate {
	certs := make([]*x509.Certificate, 0, len(own.X509Authorities))
	for _, a := range own.X509Authorities {
		cert, err := x509.ParseCertificate(a.DER)
		if err != nil {
			c.cfg.Log.Error("trust bundle holds an unparsable certificate; skipping it", "error", err)
			continue
		}
		certs = append(certs, cert)
	}
	return certs
}

func sameSequences(a, b map[string]*types.Bundle) bool {
	return maps.EqualFunc(a, b, func(x, y *types.Bundle) bool { return x.SequenceNumber == y.SequenceNumber })
}

// Bundle returns the own trust domain's bundle and its sequence number.
func (c *Cache) Bundle(context.Context) (*types.Bundle, uint64, error) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.own, c.own.SequenceNumber, nil
}

// FederatedBundles returns the bundles of the given trust domains; unknown ones are skipped.
func (c *Cache) FederatedBundles(_ context.Context, trustDomains []string) ([]*types.Bundle, error) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	var out []*types.Bundle
	for _, td := range trustDomains {
		if b, ok := c.federated[td]; ok {
			out = append(out, b)
		}
	}
	return out, nil
}

// GetX509BundleForTrustDomain makes the cache an x509bundle.Source of the own trust
// domain's X.509 authorities, the ones client SVIDs must chain to.
func (c *Cache) GetX509BundleForTrustDomain(td spiffeid.TrustDomain) (*x509bundle.Bundle, error) {
	if td != c.cfg.TrustDomain {
		return nil, fmt.Errorf("only SVIDs of %s are accepted, not of %s", c.cfg.TrustDomain, td)
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	if len(c.authorities) == 0 {
		return nil, errors.New("the trust bundle holds no usable X.509 authority")
	}
	return x509bundle.FromX509Authorities(td, c.authorities), nil
}

// Subscribe returns a channel signalled (coalescing) after any bundle changed, and a func
// that unsubscribes.
func (c *Cache) Subscribe() (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	c.mu.Lock()
	c.subs[ch] = struct{}{}
	c.mu.Unlock()
	return ch, func() {
		c.mu.Lock()
		delete(c.subs, ch)
		c.mu.Unlock()
	}
}
