package federation

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/spiffe/go-spiffe/v2/bundle/spiffebundle"
	"github.com/spiffe/go-spiffe/v2/federation"
	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/lanyard-dev/lanyard/server/datastore"
)

// Store is what the refresher reads and writes.
type Store interface {
	datastore.FederationStore
	GetBundle(ctx context.Context, trustDomain string) (*datastore.Bundle, error)
}

// RefresherConfig configures a Refresher. Zero durations take the stated defaults.
type RefresherConfig struct {
	Store Store
	// OnChange is called after a fetched bundle changed what is stored (may be nil).
	OnChange func()
	Log      *slog.Logger
	// WebPKIRoots verify https_web endpoints; nil means the system roots (which honour
	// SSL_CERT_FILE and SSL_CERT_DIR).
	WebPKIRoots *x509.CertPool
	// DefaultRefresh is used when a partner's bundle has no spiffe_refresh_hint. Default 5m.
	DefaultRefresh time.Duration
	// MinRefresh bounds how often one partner is polled, whatever its hint says. Default 1s.
	MinRefresh time.Duration
	// Reconcile is how often the relationship list is re-read, which picks up changes
	// made by other servers sharing the datastore. Default 10s.
	Reconcile time.Duration
	// FetchTimeout bounds one fetch. Default 30s.
	FetchTimeout time.Duration
}

// Refresher keeps one polling loop per federation relationship in the datastore.
type Refresher struct {
	cfg  RefresherConfig
	kick chan struct{}

	mu    sync.Mutex
	loops map[string]*loop // trust domain → running loop
}

type loop struct {
	rel    datastore.FederationRelationship
	cancel context.CancelFunc
	done   chan struct{}
}

// NewRefresher returns a refresher; Run starts it.
func NewRefresher(cfg RefresherConfig) *Refresher {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.OnChange == nil {
		cfg.OnChange = func() {}
	}
	cfg.DefaultRefresh = orDefault(cfg.DefaultRefresh, 5*time.Minute)
	cfg.MinRefresh = orDefault(cfg.MinRefresh, time.Second)
	cfg.Reconcile = orDefault(cfg.Reconcile, 10*time.Second)
	cfg.FetchTimeout = orDefault(cfg.FetchTimeout, 30*time.Second)
	return &Refresher{cfg: cfg, kick: make(chan struct{}, 1), loops: map[string]*loop{}}
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// Notify asks the refresher to re-read the relationships now (after an API change).
func (r *Refresher) Notify() {
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

// Run reconciles the polling loops with the stored relationships until ctx is cancelled.
func (r *Refresher) Run(ctx context.Context) {
	t := time.NewTicker(r.cfg.Reconcile)
	defer t.Stop()
	defer r.stopAll()
	for {
		if err := r.reconcile(ctx); err != nil && ctx.Err() == nil {
			r.cfg.Log.Warn("reading federation relationships", "error", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-r.kick:
		}
	}
}

func (r *Refresher) reconcile(ctx context.Context) error {
	rels, _, err := r.cfg.Store.ListFederationRelationships(ctx, datastore.Page{})
	if err != nil {
		return err
	}
	want := make(map[string]datastore.FederationRelationship, len(rels))
	for _, rel := range rels {
		want[rel.TrustDomain] = *rel
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for td, l := range r.loops {
		if w, ok := want[td]; !ok || !sameEndpoint(w, l.rel) {
			l.cancel()
			<-l.done
			delete(r.loops, td)
		}
	}
	for td, rel := range want {
		if _, ok := r.loops[td]; ok {
			continue
		}
		lctx, cancel := context.WithCancel(ctx)
		l := &loop{rel: rel, cancel: cancel, done: make(chan struct{})}
		r.loops[td] = l
		go func() {
			defer close(l.done)
			r.follow(lctx, l)
		}()
	}
	return nil
}

func sameEndpoint(a, b datastore.FederationRelationship) bool {
	return a.BundleEndpointURL == b.BundleEndpointURL && a.Profile == b.Profile && a.EndpointSPIFFEID == b.EndpointSPIFFEID
}

func (r *Refresher) stopAll() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for td, l := range r.loops {
		l.cancel()
		<-l.done
		delete(r.loops, td)
	}
}

// follow polls one partner: at its refresh hint after a success, and with a backoff that
// starts at MinRefresh after a failure. A failure leaves the stored bundle alone.
func (r *Refresher) follow(ctx context.Context, l *loop) {
	log := r.cfg.Log.With("trust_domain", l.rel.TrustDomain, "url", l.rel.BundleEndpointURL)
	retry := r.cfg.MinRefresh
	for {
		next, err := r.fetchAndStore(ctx, &l.rel)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			next, retry = retry, min(retry*2, r.cfg.DefaultRefresh)
			log.Warn("fetching federated bundle failed; keeping the last good one", "error", err, "retry_in", next.String())
		} else {
			retry = r.cfg.MinRefresh
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(next):
		}
	}
}

// RefreshBundle fetches the partner's bundle now and stores it. It returns an error
// wrapping datastore.ErrNotFound when there is no relationship with trustDomain.
func (r *Refresher) RefreshBundle(ctx context.Context, trustDomain string) error {
	rel, err := r.cfg.Store.GetFederationRelationship(ctx, trustDomain)
	if err != nil {
		return err
	}
	_, err = r.fetchAndStore(ctx, rel)
	return err
}

// fetchAndStore fetches one bundle, stores it when it changed and returns when to fetch
// next.
func (r *Refresher) fetchAndStore(ctx context.Context, rel *datastore.FederationRelationship) (time.Duration, error) {
	sb, err := r.fetch(ctx, rel)
	if err != nil {
		return 0, err
	}
	if len(sb.X509Authorities()) == 0 {
		return 0, fmt.Errorf("the endpoint served a bundle without X.509 authorities; refusing to replace the stored one")
	}
	b, err := fromSPIFFE(sb)
	if err != nil {
		return 0, fmt.Errorf("fetched bundle: %w", err)
	}
	changed, err := r.cfg.Store.StoreFetchedBundle(ctx, b)
	if err != nil {
		return 0, fmt.Errorf("storing fetched bundle: %w", err)
	}
	if changed {
		r.cfg.Log.Info("federated bundle updated", "trust_domain", rel.TrustDomain,
			"x509_authorities", len(b.X509Authorities), "jwt_authorities", len(b.JWTAuthorities))
		r.cfg.OnChange()
	}
	return r.interval(sb), nil
}

// interval is the partner's refresh hint bounded below by MinRefresh, or DefaultRefresh
// when it gives none.
func (r *Refresher) interval(sb *spiffebundle.Bundle) time.Duration {
	hint, ok := sb.RefreshHint()
	if !ok || hint <= 0 {
		return r.cfg.DefaultRefresh
	}
	return max(hint, r.cfg.MinRefresh)
}

func (r *Refresher) fetch(ctx context.Context, rel *datastore.FederationRelationship) (*spiffebundle.Bundle, error) {
	td, err := spiffeid.TrustDomainFromString(rel.TrustDomain)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, r.cfg.FetchTimeout)
	defer cancel()
	var opts []federation.FetchOption
	switch rel.Profile {
	case datastore.ProfileHTTPSWeb:
		if r.cfg.WebPKIRoots != nil {
			opts = append(opts, federation.WithWebPKIRoots(r.cfg.WebPKIRoots))
		}
	case datastore.ProfileHTTPSSPIFFE:
		id, err := spiffeid.FromString(rel.EndpointSPIFFEID)
		if err != nil {
			return nil, fmt.Errorf("endpoint SPIFFE ID %q: %w", rel.EndpointSPIFFEID, err)
		}
		opts = append(opts, federation.WithSPIFFEAuth(storeX509Source{ctx: ctx, store: r.cfg.Store}, id))
	default:
		return nil, fmt.Errorf("unknown bundle endpoint profile %q", rel.Profile)
	}
	sb, err := federation.FetchBundle(ctx, td, rel.BundleEndpointURL, opts...)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return nil, fmt.Errorf("no answer from %s within %s: %w", rel.BundleEndpointURL, r.cfg.FetchTimeout, err)
		}
		return nil, err
	}
	return sb, nil
}
