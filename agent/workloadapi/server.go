package workloadapi

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"time"

	secretv3 "github.com/envoyproxy/go-control-plane/envoy/service/secret/v3"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/spiffe/go-spiffe/v2/proto/spiffe/workload"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health/grpc_health_v1"

	"github.com/lanyard-dev/lanyard/agent/cache"
	"github.com/lanyard-dev/lanyard/agent/peer"
	"github.com/lanyard-dev/lanyard/attestors"
	"github.com/lanyard-dev/lanyard/internal/unixsock"
)

// Config configures the Workload API server.
type Config struct {
	// Cache is where identities and bundles come from. Required.
	Cache *cache.Cache
	// JWT mints and caches JWT-SVIDs. Without it FetchJWTSVID answers Unavailable.
	JWT *cache.JWTCache
	// Attestors describe each caller; their selectors are combined. Required (at least one).
	Attestors []attestors.WorkloadAttestor
	// AllowUnauthenticatedVerifiers lets callers without any identity fetch the bundles
	// (to verify others' SVIDs). Default false: they get PermissionDenied, as in SPIRE.
	AllowUnauthenticatedVerifiers bool
	// MaxConnectionsPerUID is the most connections one uid may hold open. Default 1,000.
	MaxConnectionsPerUID int
	// MaxConnections is the most connections all callers may hold open together. Default
	// 10,000. Both are lowered to fit the open file limit (each connection holds two
	// descriptors: the socket and a pidfd).
	MaxConnections int
	// AttestTimeout bounds attesting one caller. Default 10s.
	AttestTimeout time.Duration
	// Log receives per-call debug logs and warnings. Default: discarded.
	Log *slog.Logger
	// Registerer, when set, receives the server's Prometheus metrics.
	Registerer prometheus.Registerer
	// NoWIT answers the WIT-SVID methods Unimplemented (workload_api.wit_svids: false).
	NoWIT bool
	// MaxResponseBytes bounds each response; a workload matched by more entries than fit
	// gets the first ones (see DefaultMaxResponseBytes, the default).
	MaxResponseBytes int
	// Ready says whether the agent is ready, for the gRPC health service on the socket.
	// Default: always ready while the socket answers.
	Ready func(context.Context) error
}

// Server implements the SPIFFE Workload API.
type Server struct {
	workload.UnimplementedSpiffeWorkloadAPIServer

	cfg     Config
	log     *slog.Logger
	metrics *metrics

	// base ends when Serve stops, ending every open stream.
	base     context.Context
	stopBase context.CancelFunc
}

var _ workload.SpiffeWorkloadAPIServer = (*Server)(nil)

// New returns a server; Serve starts it. It panics if Cache or Attestors are missing,
// which is a wiring mistake rather than bad input.
func New(cfg Config) *Server {
	if cfg.Cache == nil || len(cfg.Attestors) == 0 {
		panic("workloadapi: Config.Cache and Config.Attestors are required")
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.MaxResponseBytes <= 0 {
		cfg.MaxResponseBytes = DefaultMaxResponseBytes
	}
	if cfg.AttestTimeout <= 0 {
		cfg.AttestTimeout = 10 * time.Second
	}
	if cfg.MaxConnectionsPerUID <= 0 {
		cfg.MaxConnectionsPerUID = DefaultMaxConnectionsPerUID
	}
	if cfg.MaxConnections <= 0 {
		cfg.MaxConnections = DefaultMaxConnections
	}
	s := &Server{cfg: cfg, log: cfg.Log, metrics: newMetrics(cfg.Registerer)}
	s.base, s.stopBase = context.WithCancel(context.Background())
	return s
}

// Serve listens on the unix socket at socketPath (e.g. /run/lanyard/sockets/api.sock,
// which clients address as SPIFFE_ENDPOINT_SOCKET=unix:///run/lanyard/sockets/api.sock)
// until ctx ends, then stops: open streams end with Unavailable and in-flight calls get a
// few seconds to finish. The socket is made as unixsock.Listen says (a directory other
// users can write to is refused). Call Serve once.
func (s *Server) Serve(ctx context.Context, socketPath string) error {
	ln, err := listen(socketPath)
	if err != nil {
		return err
	}
	ln = s.limit(ln)
	gs := grpc.NewServer(
		grpc.Creds(peer.NewCredentials()),
		grpc.ChainUnaryInterceptor(s.unaryInterceptor),
		grpc.ChainStreamInterceptor(s.streamInterceptor),
	)
	workload.RegisterSpiffeWorkloadAPIServer(gs, s)
	secretv3.RegisterSecretDiscoveryServiceServer(gs, &sds{s: s})
	grpc_health_v1.RegisterHealthServer(gs, &health{s: s})

	errc := make(chan error, 1)
	go func() { errc <- gs.Serve(ln) }()
	s.log.Info("Workload API listening", "socket", socketPath)
	select {
	case err := <-errc:
		s.stopBase()
		return fmt.Errorf("workload API: serving %s: %w", socketPath, err)
	case <-ctx.Done():
	}
	s.stopBase()
	done := make(chan struct{})
	go func() { gs.GracefulStop(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		gs.Stop() // a JWT mint stuck on the server must not hold up shutdown
	}
	<-errc
	return nil
}

// listen prepares the socket: 0777 so every local process can reach it (callers are
// told apart by attestation, not by file permissions).
func listen(path string) (net.Listener, error) {
	ln, err := unixsock.Listen(path, 0o777)
	if err != nil {
		return nil, fmt.Errorf("workload API: %w", err)
	}
	return ln, nil
}

// streamContext ends with the client's call or with the server.
func (s *Server) streamContext(ctx context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(s.base, cancel)
	return ctx, func() { stop(); cancel() }
}
