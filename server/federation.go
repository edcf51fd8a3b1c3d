package server

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"

	"github.com/lanyard-dev/lanyard/server/datastore"
	"github.com/lanyard-dev/lanyard/server/federation"
	"github.com/lanyard-dev/lanyard/server/oidc"
)

// federationParts is what the server runs for federation and OIDC; every field may be nil.
type federationParts struct {
	store     federation.Store // nil when the datastore cannot keep relationships
	refresher *federation.Refresher
	managed   map[string]bool // trust domains whose relationship comes from the config

	endpoint   *federation.Endpoint
	endpointLn net.Listener
	oidc       http.Handler
	oidcLn     net.Listener
}

// setUpFederation writes the configured relationships, and prepares the refresher, the
// bundle endpoint and the OIDC endpoint. It must run after the bundle source and the
// server SVID exist.
func (s *Server) setUpFederation(ctx context.Context) error {
	f := &s.fed
	f.store, _ = s.store.(federation.Store)
	seeds, err := s.cfg.FederationSeeds()
	if err != nil {
		return err
	}
	f.managed = map[string]bool{}
	if len(seeds) > 0 {
		if f.store == nil {
			return errors.New("config: federation.federates_with needs a datastore that keeps federation relationships")
		}
		if err := federation.ApplySeeds(ctx, f.store, seeds, s.log.With("component", "federation")); err != nil {
			return fmt.Errorf("config: federation.federates_with: %w", err)
		}
		for _, seed := range seeds {
			f.managed[seed.Relationship.TrustDomain] = true
		}
	}
	if f.store != nil {
		f.refresher = federation.NewRefresher(federation.RefresherConfig{
			Store: f.store, OnChange: s.bundles.Notify, Log: s.log.With("component", "federation"),
		})
	}
	if be := s.cfg.Federation.BundleEndpoint; be != nil {
		if f.endpoint, err = federation.NewEndpoint(federation.EndpointConfig{
			TrustDomain: s.td, Bundles: s.bundles, RefreshHint: be.RefreshHint.D(),
			Profile: datastore.EndpointProfile(be.Profile), CertFile: be.CertFile, KeyFile: be.KeyFile,
			SVID: s.tls.cert.Load, Log: s.log.With("component", "bundle-endpoint"),
		}); err != nil {
			return fmt.Errorf("config: federation.bundle_endpoint: %w", err)
		}
		addr := s.cfg.BundleEndpointAddr()
		if f.endpointLn, err = net.Listen("tcp", addr); err != nil {
			return fmt.Errorf("listening on federation.bundle_endpoint %s: %w", addr, err)
		}
	}
	if addr := s.cfg.OIDCAddr(); addr != "" {
		if f.oidc, err = oidc.NewHandler(oidc.Config{Issuer: s.cfg.OIDC.Issuer, Bundles: s.bundles, OmitKeyUse: s.cfg.OIDC.OmitKeyUse(), Log: s.log.With("component", "oidc")}); err != nil {
			return fmt.Errorf("config: oidc: %w", err)
		}
		if f.oidcLn, err = net.Listen("tcp", addr); err != nil {
			return fmt.Errorf("listening on oidc.address %s: %w", addr, err)
		}
	}
	return nil
}

// runFederation starts what setUpFederation prepared.
func (s *Server) runFederation(ctx context.Context) {
	f := &s.fed
	if f.refresher != nil {
		s.goRun("federation", func() error { f.refresher.Run(ctx); return nil })
	}
	if f.endpoint != nil {
		s.goRun("bundle-endpoint", func() error { return f.endpoint.Serve(ctx, f.endpointLn) })
	}
	if f.oidc != nil {
		s.goRun("oidc", func() error {
			return oidc.Serve(ctx, f.oidcLn, f.oidc, s.cfg.OIDC.CertFile, s.cfg.OIDC.KeyFile, s.log.With("component", "oidc"))
		})
	}
}

// relationshipsChanged runs after the API changed relationships: poll the new set and
// push the bundles that changed with them.
func (s *Server) relationshipsChanged() {
	if s.fed.refresher != nil {
		s.fed.refresher.Notify()
	}
	s.bundles.Notify()
}

// BundleEndpointAddr is the bundle endpoint's address, "" when not served.
func (s *Server) BundleEndpointAddr() string { return lnAddr(s.fed.endpointLn) }

// OIDCAddr is the OIDC discovery address, "" when disabled.
func (s *Server) OIDCAddr() string { return lnAddr(s.fed.oidcLn) }

func lnAddr(ln net.Listener) string {
	if ln == nil {
		return ""
	}
	return ln.Addr().String()
}
