// Package rpcserver builds lanyard-server's two gRPC servers from its API services: the
// agent-facing one (TLS, callers identified by their SVIDs) and the admin one (unix socket,
// every caller local). Both serve the same services under the same authorization policy,
// with RPC metrics, and every stream ends when the server stops.
package rpcserver

import (
	"context"
	"crypto/tls"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/status"
	"k8s.io/utils/clock"

	"github.com/lanyard-dev/lanyard/server/api"
)

// Config configures the two servers.
type Config struct {
	// TLS presents the server SVID and verifies client SVIDs (agent-facing server).
	TLS *tls.Config
	// Identify tells who a TLS caller is from its SVID.
	Identify api.Identify
	// AgentStreams guards agents' long-lived streams; it runs after authorization.
	AgentStreams grpc.StreamServerInterceptor
	// Register puts every API service on a server.
	Register func(*grpc.Server)
	Metrics  prometheus.Registerer
	Log      *slog.Logger
}

// New returns the agent-facing server and the admin server. Every stream they serve ends,
// with Unavailable, once stop is done.
func New(stop context.Context, cfg Config) (tcp, admin *grpc.Server) {
	tcpUnary, tcpStream := api.Interceptors(cfg.Identify, api.ServerPolicies, cfg.Log)
	tcpMetrics := newRPCMetrics(cfg.Metrics, "tcp")
	tcp = grpc.NewServer(
		grpc.Creds(limitHandshakes(credentials.NewTLS(cfg.TLS), handshakeSlots(), maxHandshakeWait)),
		grpc.ChainUnaryInterceptor(tcpMetrics.unary, tcpUnary),
		grpc.ChainStreamInterceptor(tcpMetrics.stream, untilStopped(stop), tcpStream, cfg.AgentStreams),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 10 * time.Second, PermitWithoutStream: true}),
		grpc.MaxRecvMsgSize(8<<20),
	)
	cfg.Register(tcp)
	adminUnary, adminStream := api.Interceptors(api.LocalCaller, api.ServerPolicies, cfg.Log)
	adminMetrics := newRPCMetrics(cfg.Metrics, "admin")
	admin = grpc.NewServer(
		grpc.ChainUnaryInterceptor(adminMetrics.unary, adminUnary),
		grpc.ChainStreamInterceptor(adminMetrics.stream, untilStopped(stop), adminStream),
		grpc.MaxRecvMsgSize(32<<20),
	)
	cfg.Register(admin)
	return tcp, admin
}

// untilStopped ties every stream to the server's lifetime: when stop is done, streams end
// with Unavailable, so a graceful stop does not wait for agents to hang up.
func untilStopped(stop context.Context) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		ctx, cancel := context.WithCancel(ss.Context())
		defer cancel()
		defer context.AfterFunc(stop, cancel)()
		err := handler(srv, &stoppableStream{ServerStream: ss, ctx: ctx})
		if err != nil && stop.Err() != nil && ss.Context().Err() == nil {
			return status.Error(codes.Unavailable, "lanyard-server is shutting down; reconnect when it is back (or to another server)")
		}
		return err
	}
}

type stoppableStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s *stoppableStream) Context() context.Context { return s.ctx }

// Stop stops accepting, lets running calls finish for up to grace on clk, then closes
// every connection.
func Stop(clk clock.Clock, g *grpc.Server, grace time.Duration) {
	done := make(chan struct{})
	go func() { g.GracefulStop(); close(done) }()
	t := clk.NewTimer(grace)
	defer t.Stop()
	select {
	case <-done:
		return
	case <-t.C():
		g.Stop()
	}
	<-done
}
