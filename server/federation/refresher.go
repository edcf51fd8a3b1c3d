package federation

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/spiffe/go-spiffe/v2/bundle/spiffebundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/spiffetls/tlsconfig"

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
	// A failed poll is retried at the next polling interval.
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

// follow polls one partner at its refresh hint. A failed poll leaves the stored bundle
// alone and is retried at the next polling interval, not sooner (SPIFFE Federation §6.2):
// the last hint seen, or the stored bundle's, or DefaultRefresh.
func (r *Refresher) follow(ctx context.Context, l *loop) {
	log := r.cfg.Log.With("trust_domain", l.rel.TrustDomain, "url", l.rel.BundleEndpointURL)
	interval := r.cfg.DefaultRefresh
	if b, err := r.cfg.Store.GetBundle(ctx, l.rel.TrustDomain); err == nil && b.RefreshHint > 0 {
		interval = max(time.Duration(b.RefreshHint)*time.Second, r.cfg.MinRefresh)
	}
	for {
		next, err := r.fetchAndStore(ctx, &l.rel)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			log.Warn("fetching federated bundle failed; keeping the last good one", "error", err, "retry_in", interval.String())
		} else {
			interval = next
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(interval):
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

// maxBundleSize bounds a fetched bundle document; real ones are a few kilobytes.
const maxBundleSize = 4 << 20

func (r *Refresher) fetch(ctx context.Context, rel *datastore.FederationRelationship) (*spiffebundle.Bundle, error) {
	td, err := spiffeid.TrustDomainFromString(rel.TrustDomain)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, r.cfg.FetchTimeout)
	defer cancel()
	client, err := r.client(ctx, rel)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rel.BundleEndpointURL, http.NoBody)
	if err != nil {
		return nil, fmt.Errorf("bundle endpoint URL: %w", err)
	}
	resp, err := client.Do(req)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return nil, fmt.Errorf("no answer from %s within %s: %w", rel.BundleEndpointURL, r.cfg.FetchTimeout, err)
		}
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s answered %s", rel.BundleEndpointURL, resp.Status)
	}
	sb, err := spiffebundle.Read(td, io.LimitReader(resp.Body, maxBundleSize))
	if err != nil {
		return nil, fmt.Errorf("%s did not serve a SPIFFE bundle of %s: %w", rel.BundleEndpointURL, td, err)
	}
	return sb, nil
}

// client authenticates the endpoint as its profile says. Redirects are followed only to
// valid bundle endpoint URLs, with the same authentication (SPIFFE Federation §5.2).
func (r *Refresher) client(ctx context.Context, rel *datastore.FederationRelationship) (*http.Client, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	switch rel.Profile {
	case datastore.ProfileHTTPSWeb:
		tr.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: r.cfg.WebPKIRoots}
	case datastore.ProfileHTTPSSPIFFE:
		id, err := spiffeid.FromString(rel.EndpointSPIFFEID)
		if err != nil {
			return nil, fmt.Errorf("endpoint SPIFFE ID %q: %w", rel.EndpointSPIFFEID, err)
		}
		tr.TLSClientConfig = tlsconfig.TLSClientConfig(storeX509Source{ctx: ctx, store: r.cfg.Store}, tlsconfig.AuthorizeID(id))
	default:
		return nil, fmt.Errorf("unknown bundle endpoint profile %q", rel.Profile)
	}
	return &http.Client{Transport: tr, CheckRedirect: checkRedirect}, nil
}

func checkRedirect(req *http.Request, via []*http.Request) error {
	if len(via) >= 5 {
		return errors.New("more than 5 redirects")
	}
	if req.URL.Scheme != "https" || req.URL.User != nil {
		return fmt.Errorf("redirected to %s, which is not a valid bundle endpoint URL (https, no user info)", req.URL.Redacted())
	}
	return nil
}
