package server

import (
	"context"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	agentv1 "github.com/spiffe/spire-api-sdk/proto/spire/api/server/agent/v1"
	bundlev1 "github.com/spiffe/spire-api-sdk/proto/spire/api/server/bundle/v1"
	debugv1 "github.com/spiffe/spire-api-sdk/proto/spire/api/server/debug/v1"
	entryv1 "github.com/spiffe/spire-api-sdk/proto/spire/api/server/entry/v1"
	localauthorityv1 "github.com/spiffe/spire-api-sdk/proto/spire/api/server/localauthority/v1"
	loggerv1 "github.com/spiffe/spire-api-sdk/proto/spire/api/server/logger/v1"
	svidv1 "github.com/spiffe/spire-api-sdk/proto/spire/api/server/svid/v1"
	trustdomainv1 "github.com/spiffe/spire-api-sdk/proto/spire/api/server/trustdomain/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	"google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/status"
	"k8s.io/utils/clock"

	"github.com/lanyard-dev/lanyard/attestors"
	syncv1 "github.com/lanyard-dev/lanyard/proto/lanyard/agent/v1"
	"github.com/lanyard-dev/lanyard/server/api"
	agentapi "github.com/lanyard-dev/lanyard/server/api/agent"
	bundleapi "github.com/lanyard-dev/lanyard/server/api/bundle"
	debugapi "github.com/lanyard-dev/lanyard/server/api/debug"
	entryapi "github.com/lanyard-dev/lanyard/server/api/entry"
	localauthorityapi "github.com/lanyard-dev/lanyard/server/api/localauthority"
	loggerapi "github.com/lanyard-dev/lanyard/server/api/logger"
	svidapi "github.com/lanyard-dev/lanyard/server/api/svid"
	trustdomainapi "github.com/lanyard-dev/lanyard/server/api/trustdomain"
	"github.com/lanyard-dev/lanyard/server/entrycache"
)

// grpcServers builds the agent-facing TLS server and the local admin server. Both serve
// the same services; the interceptors decide who may call what.
// Every stream ends when ctx does.
func (s *Server) grpcServers(ctx context.Context, verifiers map[string]attestors.NodeVerifier) (tcp, admin *grpc.Server) {
	authn := &api.Authenticator{TrustDomain: s.td, Agents: s.store, IsAdminID: s.isAdminID, Now: s.clk.Now}
	guard := newStreamGuard(authn, s.clk)
	agents := agentapi.New(agentapi.Config{
		TrustDomain: s.td, OnChange: guard.AgentsChanged, Store: s.store, Signer: s.ca, AgentTTL: s.cfg.AgentTTL.D(), Log: s.log.With("api", "agent"),
		Verifiers: verifiers, Now: s.clk.Now,
	})
	bundles := bundleapi.New(bundleapi.Config{TrustDomain: s.td, Store: s.store, Log: s.log.With("api", "bundle"), OnChange: s.bundles.Notify})
	entries := entryapi.New(entryapi.Config{TrustDomain: s.td, Store: s.store, Authorized: s.entries, Log: s.log.With("api", "entry")})
	s.entryAPI = entries
	svids := svidapi.New(svidapi.Config{
		TrustDomain: s.td, Signer: s.ca, Authorized: s.entries, Log: s.log.With("api", "svid"),
		X509TTL: s.cfg.DefaultX509SVIDTTL.D(), JWTTTL: s.cfg.DefaultJWTSVIDTTL.D(), Now: s.clk.Now,
	})
	trustDomains := trustdomainapi.New(trustdomainapi.Config{
		TrustDomain: s.td, Store: s.fed.store, Refresher: s.fed.refresher, OnChange: s.relationshipsChanged,
		Managed: func(td string) bool { return s.fed.managed[td] }, Log: s.log.With("api", "trustdomain"),
	})
	watch := entrycache.NewWatchService(s.entries, watchLookup, s.bundles, s.log.With("api", "entrysync"))
	debug := debugapi.New(debugapi.Config{Store: s.store, Started: s.started, Now: s.clk.Now, ServerSVID: s.tls.cert.Load})
	authorities := localauthorityapi.New(localauthorityapi.Config{CA: s.ca, OnChange: func() {
		s.bundles.Notify()
		// The server's own SVID may come from the authority just replaced; once that one
		// is revoked, agents would refuse the server's handshakes.
		if err := s.tls.rotate(ctx); err != nil {
			s.log.Warn("re-signing the server SVID after an authority change failed; it is renewed at half-life", "error", err)
		}
	}})
	healthSrv := health.NewServer()

	register := func(g *grpc.Server) {
		agentv1.RegisterAgentServer(g, agents)
		bundlev1.RegisterBundleServer(g, bundles)
		entryv1.RegisterEntryServer(g, entries)
		svidv1.RegisterSVIDServer(g, svids)
		trustdomainv1.RegisterTrustDomainServer(g, trustDomains)
		syncv1.RegisterEntrySyncServer(g, watch)
		debugv1.RegisterDebugServer(g, debug)
		localauthorityv1.RegisterLocalAuthorityServer(g, authorities)
		if s.levels != nil {
			loggerv1.RegisterLoggerServer(g, loggerapi.New(s.levels))
		}
		grpc_health_v1.RegisterHealthServer(g, healthSrv)
	}
	tcpUnary, tcpStream := api.Interceptors(authn.Authenticate, policies, s.log)
	tcpMetrics := newRPCMetrics(s.reg, "tcp")
	tcp = grpc.NewServer(
		grpc.Creds(credentials.NewTLS(s.tls.config())),
		grpc.ChainUnaryInterceptor(tcpMetrics.unary, tcpUnary),
		grpc.ChainStreamInterceptor(tcpMetrics.stream, untilStopped(ctx), tcpStream, guard.interceptor),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 10 * time.Second, PermitWithoutStream: true}),
		grpc.MaxRecvMsgSize(8<<20),
	)
	register(tcp)
	adminUnary, adminStream := api.Interceptors(api.LocalCaller, policies, s.log)
	adminMetrics := newRPCMetrics(s.reg, "admin")
	admin = grpc.NewServer(
		grpc.ChainUnaryInterceptor(adminMetrics.unary, adminUnary),
		grpc.ChainStreamInterceptor(adminMetrics.stream, untilStopped(ctx), adminStream),
		grpc.MaxRecvMsgSize(32<<20),
	)
	register(admin)
	return tcp, admin
}

// isAdminID reports whether an unexpired admin entry has this SPIFFE ID, from the entry
// cache: it runs for every call made with a non-agent SVID.
func (s *Server) isAdminID(id spiffeid.ID) bool {
	return s.entries.IsAdmin(id.String())
}

// watchLookup identifies the agent of an EntrySync stream from the authenticated caller.
func watchLookup(ctx context.Context) (string, []attestors.Selector, error) {
	c := api.CallerFrom(ctx)
	if c.Kind != api.AgentCaller || c.Agent == nil {
		return "", nil, status.Error(codes.PermissionDenied, "only attested agents may watch entries")
	}
	return c.Agent.ID, c.Agent.Selectors, nil
}

// stopGRPC stops accepting, lets running calls finish for up to grace, then closes every
// connection.
func stopGRPC(clk clock.Clock, g *grpc.Server, grace time.Duration) {
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
