package federation

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/spiffe/go-spiffe/v2/bundle/spiffebundle"
	"github.com/spiffe/go-spiffe/v2/federation"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/spire-api-sdk/proto/spire/api/types"

	"github.com/lanyard-dev/lanyard/internal/bundleconv"
	"github.com/lanyard-dev/lanyard/internal/httpserve"
	"github.com/lanyard-dev/lanyard/server/certfile"
	"github.com/lanyard-dev/lanyard/server/datastore"
)

// OwnBundleSource gives the server's current own bundle. It must be safe for concurrent
// use and answer from memory: it is called on every request.
type OwnBundleSource interface {
	Bundle(ctx context.Context) (*types.Bundle, uint64, error)
}

// EndpointConfig configures the bundle endpoint.
type EndpointConfig struct {
	TrustDomain spiffeid.TrustDomain
	Bundles     OwnBundleSource
	// RefreshHint is published as spiffe_refresh_hint: how often partners should poll.
	RefreshHint time.Duration
	Profile     datastore.EndpointProfile
	// CertFile and KeyFile (https_web) are the PEM certificate chain and key; they are read
	// again when they change on disk, so renewing the certificate needs no restart.
	CertFile, KeyFile string
	// SVID (https_spiffe) returns the server's current X.509-SVID.
	SVID func() *tls.Certificate
	Log  *slog.Logger
}

// Endpoint serves the trust domain's bundle over HTTPS (SPIFFE Federation §4).
type Endpoint struct {
	cfg     EndpointConfig
	handler http.Handler
	tls     *tls.Config
}

// NewEndpoint checks the configuration and, for https_web, loads the certificate once so
// that a bad file fails the start rather than the first partner.
func NewEndpoint(cfg EndpointConfig) (*Endpoint, error) {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	e := &Endpoint{cfg: cfg}
	h, err := federation.NewHandler(cfg.TrustDomain, e)
	if err != nil {
		return nil, fmt.Errorf("bundle endpoint: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /{$}", h)
	e.handler = mux
	e.tls = &tls.Config{MinVersion: tls.VersionTLS12, NextProtos: []string{"h2", "http/1.1"}}
	switch cfg.Profile {
	case datastore.ProfileHTTPSWeb:
		certs, err := certfile.New(cfg.CertFile, cfg.KeyFile, "bundle endpoint (https_web)", cfg.Log)
		if err != nil {
			return nil, fmt.Errorf("bundle endpoint https_web certificate: %w", err)
		}
		e.tls.GetCertificate = certs.Get
	case datastore.ProfileHTTPSSPIFFE:
		if cfg.SVID == nil {
			return nil, errors.New("bundle endpoint https_spiffe: no server SVID source")
		}
		e.tls.GetCertificate = func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return cfg.SVID(), nil }
	default:
		return nil, fmt.Errorf("bundle endpoint: unknown profile %q (use https_web or https_spiffe)", cfg.Profile)
	}
	return e, nil
}

// GetBundleForTrustDomain implements spiffebundle.Source for the handler.
func (e *Endpoint) GetBundleForTrustDomain(td spiffeid.TrustDomain) (*spiffebundle.Bundle, error) {
	if td != e.cfg.TrustDomain {
		return nil, fmt.Errorf("no bundle for %s", td)
	}
	pb, _, err := e.cfg.Bundles.Bundle(context.Background())
	if err != nil {
		return nil, err
	}
	sb, err := bundleconv.ToSPIFFE(pb)
	if err != nil {
		return nil, err
	}
	if e.cfg.RefreshHint > 0 {
		sb.SetRefreshHint(e.cfg.RefreshHint)
	}
	return sb, nil
}

// Handler serves the bundle document at "/" (plain HTTP; Serve adds TLS).
func (e *Endpoint) Handler() http.Handler { return e.handler }

// Serve serves HTTPS on ln until ctx is cancelled.
func (e *Endpoint) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           e.handler,
		TLSConfig:         e.tls,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(e.cfg.Log.Handler(), slog.LevelDebug),
	}
	return httpserve.Serve(ctx, srv, 3*time.Second, func() error { return srv.ServeTLS(ln, "", "") })
}
