package broker

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/spiffe/go-spiffe/v2/bundle/x509bundle"
	brokerv1 "github.com/spiffe/go-spiffe/v2/exp/proto/spiffe/broker"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/spiffetls/tlsconfig"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
	"k8s.io/utils/clock"

	"github.com/lanyard-dev/lanyard/agent/cache"
	"github.com/lanyard-dev/lanyard/attestors"
	"github.com/lanyard-dev/lanyard/internal/svidverify"
)

// SecurityHeader is the metadata key every Broker API request carries, with value "true"
// (SPIFFE Broker Endpoint §3: a guard against server-side request forgery).
const SecurityHeader = "broker.spiffe.io"

// Config configures the Broker Endpoint.
type Config struct {
	// Brokers are the SPIFFE IDs allowed to call; anyone else gets PermissionDenied.
	Brokers []spiffeid.ID
	// Cache is the one source of entries, SVIDs and bundles; its own bundle verifies
	// brokers' X.509-SVIDs. Required.
	Cache *cache.Cache
	// JWT mints JWT-SVIDs; nil: FetchJWTSVID answers Unavailable.
	JWT interface {
		Fetch(ctx context.Context, e *cache.Entry, audience []string) (string, error)
	}
	// Attestors attest the processes brokers reference. Required.
	Attestors []attestors.WorkloadAttestor
	// Pods resolves KubernetesObjectReferences to pods; nil: they are refused
	// (WORKLOAD_REFERENCE_INVALID).
	Pods Pods
	// Certificate returns the agent's own X.509-SVID, presented to brokers (which check
	// the agent's SPIFFE ID); nil while it has none.
	Certificate func() *tls.Certificate
	// Clock verifies brokers' SVIDs and filters expired ones. Default the real clock.
	Clock clock.Clock
	Log   *slog.Logger
}

// Serve serves the Broker API on ln until ctx ends, then closes ln.
func Serve(ctx context.Context, ln net.Listener, cfg Config) error {
	if cfg.Clock == nil {
		cfg.Clock = clock.RealClock{}
	}
	s := &service{cfg: cfg, brokers: map[spiffeid.ID]bool{}}
	for _, id := range cfg.Brokers {
		s.brokers[id] = true
	}
	gs := grpc.NewServer(grpc.Creds(credentials.NewTLS(s.tlsConfig())),
		grpc.ChainUnaryInterceptor(func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
			if err := s.admit(ctx); err != nil {
				return nil, err
			}
			return h(ctx, req)
		}),
		grpc.ChainStreamInterceptor(func(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, h grpc.StreamHandler) error {
			if err := s.admit(ss.Context()); err != nil {
				return err
			}
			return h(srv, ss)
		}))
	brokerv1.RegisterAPIServer(gs, s)
	errc := make(chan error, 1)
	go func() { errc <- gs.Serve(ln) }()
	cfg.Log.Info("SPIFFE Broker API listening", "address", ln.Addr().String())
	select {
	case err := <-errc:
		if errors.Is(err, grpc.ErrServerStopped) {
			return nil
		}
		return fmt.Errorf("broker API: serving %s: %w", ln.Addr(), err)
	case <-ctx.Done():
	}
	done := make(chan struct{})
	go func() { gs.GracefulStop(); close(done) }()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		gs.Stop() // brokers' streams reconnect to the next agent
	}
	<-errc
	return nil
}

// tlsConfig presents the agent's SVID and asks every broker for an X.509-SVID that
// verifies against the agent's bundle; which IDs may call is decided per call (admit), so
// that others learn why (PermissionDenied) instead of a failed handshake.
func (s *service) tlsConfig() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			if c := s.cfg.Certificate(); c != nil {
				return c, nil
			}
			return nil, errors.New("the agent has no SVID yet")
		},
		ClientAuth:            tls.RequireAnyClientCert,
		VerifyPeerCertificate: svidverify.PeerCertificate(bundleSource{s.cfg.Cache}, tlsconfig.AuthorizeAny(), s.cfg.Clock),
	}
}

// admit checks the security header, then that the caller is an authorized broker.
func (s *service) admit(ctx context.Context) error {
	if v := metadata.ValueFromIncomingContext(ctx, SecurityHeader); len(v) != 1 || v[0] != "true" {
		return status.Errorf(codes.InvalidArgument, "security header missing from request: send gRPC metadata %s: true", SecurityHeader)
	}
	p, ok := peer.FromContext(ctx)
	if !ok {
		return status.Error(codes.Unauthenticated, "caller has no X.509-SVID")
	}
	info, ok := p.AuthInfo.(credentials.TLSInfo)
	if !ok || len(info.State.PeerCertificates) == 0 {
		return status.Error(codes.Unauthenticated, "caller has no X.509-SVID")
	}
	id, err := x509svid.IDFromCert(info.State.PeerCertificates[0])
	if err != nil {
		return status.Errorf(codes.Unauthenticated, "caller's certificate is no X.509-SVID: %v", err)
	}
	if !s.brokers[id] {
		s.cfg.Log.Warn("Broker API call refused: not an authorized broker", "broker_id", id.String())
		return status.Errorf(codes.PermissionDenied, "%s is not an authorized broker of this agent (broker_api.authorized_brokers)", id)
	}
	return nil
}

// bundleSource is the agent's own X.509 bundle from the cache.
type bundleSource struct{ c *cache.Cache }

func (b bundleSource) GetX509BundleForTrustDomain(td spiffeid.TrustDomain) (*x509bundle.Bundle, error) {
	own, _ := b.c.Bundles()
	if own == nil || own.TrustDomain != td {
		return nil, fmt.Errorf("no bundle for trust domain %q", td)
	}
	return own.Bundle.X509Bundle(), nil
}
