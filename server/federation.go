package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/lanyard-dev/lanyard/server/bundlecache"
	"github.com/lanyard-dev/lanyard/server/config"
	"github.com/lanyard-dev/lanyard/server/datastore"
	"github.com/lanyard-dev/lanyard/server/federation"
	"github.com/lanyard-dev/lanyard/server/oidc"
	"github.com/lanyard-dev/lanyard/server/serversvid"
)

// federationParts is what the server runs for federation and OIDC; every field may be nil.
type federationParts struct {
	store     federation.Store // nil when the datastore cannot keep relationships
	refresher *federation.Refresher
	managed   map[string]bool // trust domains whose relationship comes from the config
	endpoint  *federation.Endpoint
	oidc      http.Handler
}

// setUpFederation writes the configured relationships and builds the refresher, the
// bundle endpoint and the OIDC handler the configuration asks for.
func setUpFederation(ctx context.Context, cfg config.Config, td spiffeid.TrustDomain, store datastore.Store,
	bundles *bundlecache.Cache, svid *serversvid.SVID, log *slog.Logger) (federationParts, error) {
	var f federationParts
	f.store, _ = store.(federation.Store)
	seeds, err := cfg.FederationSeeds()
	if err != nil {
		return f, err
	}
	f.managed = map[string]bool{}
	if len(seeds) > 0 {
		if f.store == nil {
			return f, errors.New("config: federation.federates_with needs a datastore that keeps federation relationships")
		}
		if err := federation.ApplySeeds(ctx, f.store, seeds, log.With("component", "federation")); err != nil {
			return f, fmt.Errorf("config: federation.federates_with: %w", err)
		}
		for _, seed := range seeds {
			f.managed[seed.Relationship.TrustDomain] = true
		}
	}
	if f.store != nil {
		f.refresher = federation.NewRefresher(federation.RefresherConfig{
			Store: f.store, OnChange: bundles.Notify, Log: log.With("component", "federation"),
		})
	}
	if be := cfg.Federation.BundleEndpoint; be != nil {
		if f.endpoint, err = federation.NewEndpoint(federation.EndpointConfig{
			TrustDomain: td, Bundles: bundles, RefreshHint: be.RefreshHint.D(),
			Profile: datastore.EndpointProfile(be.Profile), CertFile: be.CertFile, KeyFile: be.KeyFile,
			SVID: svid.Current, Log: log.With("component", "bundle-endpoint"),
		}); err != nil {
			return f, fmt.Errorf("config: federation.bundle_endpoint: %w", err)
		}
	}
	if cfg.OIDCAddr() != "" {
		if f.oidc, err = oidc.NewHandler(oidc.Config{Issuer: cfg.OIDC.Issuer, Bundles: bundles, OmitKeyUse: cfg.OIDC.OmitKeyUse(), Log: log.With("component", "oidc")}); err != nil {
			return f, fmt.Errorf("config: oidc: %w", err)
		}
	}
	return f, nil
}

// jobs are the goroutines that run what setUpFederation built, on the listeners opened for them.
func (f federationParts) jobs(cfg config.Config, lns listeners, log *slog.Logger) []job {
	var jobs []job
	if f.refresher != nil {
		jobs = append(jobs, job{"federation", func(ctx context.Context) error { f.refresher.Run(ctx); return nil }})
	}
	if f.endpoint != nil {
		jobs = append(jobs, job{"bundle-endpoint", func(ctx context.Context) error { return f.endpoint.Serve(ctx, lns.bundleEndpoint) }})
	}
	if f.oidc != nil {
		jobs = append(jobs, job{"oidc", func(ctx context.Context) error {
			return oidc.Serve(ctx, lns.oidc, f.oidc, cfg.OIDC.CertFile, cfg.OIDC.KeyFile, log.With("component", "oidc"))
		}})
	}
	return jobs
}

// relationshipsChanged runs after the API changed relationships: poll the new set and
// push the bundles that changed with them.
func (f federationParts) relationshipsChanged(bundles *bundlecache.Cache) func() {
	return func() {
		if f.refresher != nil {
			f.refresher.Notify()
		}
		bundles.Notify()
	}
}
