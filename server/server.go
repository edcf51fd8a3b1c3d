package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"google.golang.org/grpc"
	"k8s.io/utils/clock"

	"github.com/lanyard-dev/lanyard/internal/health"
	"github.com/lanyard-dev/lanyard/internal/loglevel"
	"github.com/lanyard-dev/lanyard/internal/spireid"
	"github.com/lanyard-dev/lanyard/server/api"
	"github.com/lanyard-dev/lanyard/server/api/streamguard"
	"github.com/lanyard-dev/lanyard/server/bundlecache"
	"github.com/lanyard-dev/lanyard/server/ca"
	"github.com/lanyard-dev/lanyard/server/config"
	"github.com/lanyard-dev/lanyard/server/datadir"
	"github.com/lanyard-dev/lanyard/server/datastore"
	"github.com/lanyard-dev/lanyard/server/entrycache"
	"github.com/lanyard-dev/lanyard/server/housekeeping"
	"github.com/lanyard-dev/lanyard/server/keymanager"
	"github.com/lanyard-dev/lanyard/server/nodeattestors"
	"github.com/lanyard-dev/lanyard/server/rpcserver"
	"github.com/lanyard-dev/lanyard/server/serversvid"
)

// Server is a running lanyard-server: what its addresses, Stop and Wait need.
type Server struct {
	log   *slog.Logger
	clk   clock.Clock
	lns   listeners
	store datastore.Store // closed last, once every goroutine has returned
	keys  io.Closer       // the key manager, when it holds something to close (a PKCS#11 token)

	cancel context.CancelFunc
	wg     sync.WaitGroup // every goroutine the server starts
	done   chan struct{}  // closed once everything has stopped and the datastore is closed
	errMu  sync.Mutex
	err    error
}

type options struct {
	levels *loglevel.Control // nil: no logger API
}

// Option changes how Start builds the server.
type Option func(*options)

// WithLogLevels serves the logger API (SPIRE's logger/v1) over the level that log's
// handler reads, so operators can change it while the server runs.
func WithLogLevels(c *loglevel.Control) Option { return func(o *options) { o.levels = c } }

// job is a goroutine the server runs until ctx ends; an error other than ctx's stops the server.
type job struct {
	name string
	run  func(ctx context.Context) error
}

// Start opens everything, starts serving and returns once the server accepts connections.
// It stops when ctx is cancelled; Wait returns after everything has stopped.
//
// It reads top to bottom as the server's data flow: what data_dir and the datastore hold,
// the CA that signs, the caches that follow the datastore, the server's own SVID, the
// listeners, federation, the API services and the gRPC servers that serve them, the
// Kubernetes controllers that write through them; then every goroutine starts at once.
func Start(ctx context.Context, cfg config.Config, log *slog.Logger, opts ...Option) (_ *Server, err error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	var clk clock.WithTicker = clock.RealClock{}
	if cfg.Clock != nil {
		clk = cfg.Clock
	}
	started, td := clk.Now(), cfg.TD()
	ctx, cancel := context.WithCancel(ctx)
	s := &Server{log: log, clk: clk, cancel: cancel, done: make(chan struct{})}
	defer func() {
		if err != nil {
			cancel()
			s.closeAll()
		}
	}()

	// What this server keeps between runs.
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("creating data_dir: %w", err)
	}
	store, err := datadir.OpenStore(ctx, cfg, log.With("component", "datastore"))
	if err != nil {
		return nil, fmt.Errorf("opening datastore: %w", err)
	}
	s.store = store // for closing, last
	if err := datadir.CheckPriorState(ctx, cfg, store, log); err != nil {
		return nil, err
	}
	serverID, err := datadir.ServerID(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	keys, err := datadir.KeyManager(cfg, serverID, log.With("component", "keymanager"))
	if err != nil {
		return nil, err
	}
	if c, ok := keys.(io.Closer); ok {
		s.keys = c
	}

	// The CA signs; the caches follow the datastore; the server SVID comes from the CA.
	authority, err := newCA(ctx, cfg, td, serverID, keys, store, clk, log)
	if err != nil {
		return nil, err
	}
	entries, err := entrycache.New(ctx, entrycache.Config{Store: store, TrustDomain: td, Log: log.With("component", "entrycache"), Now: clk.Now})
	if err != nil {
		return nil, fmt.Errorf("loading entries: %w", err)
	}
	// The poll reads the datastore on real time, whatever cfg.Clock says: other servers
	// change it in real time.
	bundles, err := bundlecache.New(ctx, bundlecache.Config{TrustDomain: td, Store: store, Log: log.With("component", "bundles")})
	if err != nil {
		return nil, fmt.Errorf("loading trust bundle: %w", err)
	}
	svid, err := serversvid.New(ctx, serversvid.Config{ID: spireid.Server(td), Signer: authority, TTL: cfg.DefaultX509SVIDTTL.D(),
		Bundle: bundles, Log: log, Clock: clk})
	if err != nil {
		return nil, err
	}
	verifiers, err := nodeattestors.Verifiers(cfg.NodeAttestors, nodeattestors.Deps{TrustDomain: td, Tokens: store, Bundle: bundles, Clock: clk, Log: log})
	if err != nil {
		return nil, err
	}

	// Where it serves.
	lns, err := listen(cfg)
	if err != nil {
		return nil, err
	}
	s.lns = lns // for the addresses and for closing, last
	fed, err := setUpFederation(ctx, cfg, td, store, bundles, svid, log)
	if err != nil {
		return nil, err
	}

	// Who may call what, the services, and the gRPC servers that serve them.
	// Agent rows answer an agent's calls for 5 s: a ban or eviction on another server of a
	// shared datastore reaches this one within that (this server's own at once).
	authn := &api.Authenticator{TrustDomain: td, Agents: store, Now: clk.Now, AgentRowTTL: 5 * time.Second,
		IsAdminID: func(id spiffeid.ID) bool { return entries.IsAdmin(id.String()) }}
	guard := streamguard.New(authn, clk)
	register, entryAPI := services(ctx, serviceDeps{cfg: cfg, td: td, store: store, ca: authority, entries: entries,
		bundles: bundles, svid: svid, verifiers: verifiers, fed: fed, agentChanged: func(id spiffeid.ID) { authn.Forget(id); guard.AgentChanged(id) },
		levels: o.levels, started: started, clk: clk, log: log})
	metrics := prometheus.NewRegistry()
	metrics.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	tcp, admin := rpcserver.New(ctx, rpcserver.Config{TLS: svid.TLSConfig(), Identify: authn.Authenticate,
		AgentStreams: guard.Interceptor, Register: register, Metrics: metrics, Log: log})
	k8sJobs, err := kubernetesJobs(cfg, td, entryAPI, bundles, log)
	if err != nil {
		return nil, err
	}
	podJobs, err := podCertificateJobs(cfg, td, authority, store, bundles, metrics, clk, log)
	if err != nil {
		return nil, err
	}

	jobs := []job{
		{"ca", authority.Run},
		{"entrycache", entries.Run},
		{"bundles", bundles.Run},
		{"server-svid", svid.Run},
		{"housekeeping", func(ctx context.Context) error {
			return housekeeping.Run(ctx, housekeeping.Config{Store: store, Entries: entries, Clock: clk, Log: log})
		}},
		{"tcp", func(context.Context) error { return tcp.Serve(lns.tcp) }},
		{"admin", func(context.Context) error { return admin.Serve(lns.admin) }},
	}
	jobs = append(jobs, fed.jobs(cfg, lns, log)...)
	if lns.health != nil {
		ready := func(ctx context.Context) error {
			if _, err := store.GetBundle(ctx, td.Name()); err != nil {
				return fmt.Errorf("datastore: %w", err)
			}
			return svid.Expired()
		}
		jobs = append(jobs, job{"health", func(ctx context.Context) error { return health.Serve(ctx, lns.health, ready, metrics) }})
	}
	jobs = append(jobs, k8sJobs...)
	jobs = append(jobs, podJobs...)
	for _, j := range jobs {
		s.goRun(ctx, j)
	}
	go s.shutdown(ctx, tcp, admin)
	log.Info("lanyard-server started", "trust_domain", td.Name(), "address", lns.tcp.Addr().String(),
		"admin_socket", cfg.AdminSocketPath, "health", s.HealthAddr(), "bundle_endpoint", s.BundleEndpointAddr(), "oidc", s.OIDCAddr())
	return s, nil
}

func newCA(ctx context.Context, cfg config.Config, td spiffeid.TrustDomain, serverID string, keys keymanager.KeyManager,
	store datastore.Store, clk clock.WithTicker, log *slog.Logger) (*ca.CA, error) {
	var upstream *ca.Upstream
	if u := cfg.UpstreamAuthority; u != nil {
		var err error
		if upstream, err = ca.LoadUpstream(u.CertFile, u.KeyFile, u.BundleFile, time.Now()); err != nil {
			return nil, fmt.Errorf("upstream_authority: %w", err)
		}
	}
	authority, err := ca.New(ctx, ca.Config{
		TrustDomain: td, ServerID: serverID, KeyManager: keys, Store: store,
		X509KeyType: keymanager.KeyType(cfg.CAKeyType), JWTKeyType: keymanager.KeyType(cfg.JWTKeyType),
		CATTL: cfg.CATTL.D(), JWTIssuer: cfg.JWTIssuer, WITIssuer: cfg.WITIssuer, Log: log.With("component", "ca"), Upstream: upstream,
		Clock: clk,
	})
	if err != nil {
		return nil, fmt.Errorf("starting CA: %w", err)
	}
	return authority, nil
}

// Addr is the TCP address agents connect to.
func (s *Server) Addr() net.Addr { return s.lns.tcp.Addr() }

// HealthAddr is the health/metrics address, "" when disabled.
func (s *Server) HealthAddr() string { return lnAddr(s.lns.health) }

// BundleEndpointAddr is the bundle endpoint's address, "" when not served.
func (s *Server) BundleEndpointAddr() string { return lnAddr(s.lns.bundleEndpoint) }

// OIDCAddr is the OIDC discovery address, "" when disabled.
func (s *Server) OIDCAddr() string { return lnAddr(s.lns.oidc) }

// Stop cancels the server; Wait then returns.
func (s *Server) Stop() { s.cancel() }

// Wait blocks until the server has stopped, its goroutines have returned and its
// datastore is closed, and returns the first failure of a component.
func (s *Server) Wait() error {
	<-s.done
	s.errMu.Lock()
	defer s.errMu.Unlock()
	return s.err
}

// shutdown stops the server in order once ctx is done: the gRPC servers stop accepting
// and their streams end (they are tied to ctx), then every goroutine is joined, and only
// then are the listeners and the datastore closed.
func (s *Server) shutdown(ctx context.Context, grpcServers ...*grpc.Server) {
	<-ctx.Done()
	for _, g := range grpcServers {
		rpcserver.Stop(s.clk, g, 3*time.Second)
	}
	s.wg.Wait()
	s.closeAll()
	close(s.done)
}

func (s *Server) goRun(ctx context.Context, j job) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if err := j.run(ctx); err != nil && !errors.Is(err, context.Canceled) && !isClosedErr(err) {
			s.log.Error("component failed; stopping server", "component", j.name, "error", err)
			s.errMu.Lock()
			if s.err == nil {
				s.err = fmt.Errorf("%s: %w", j.name, err)
			}
			s.errMu.Unlock()
			s.cancel()
		}
	}()
}

func (s *Server) closeAll() {
	s.lns.close()
	if s.keys != nil {
		if err := s.keys.Close(); err != nil {
			s.log.Warn("closing key manager", "error", err)
		}
	}
	if s.store != nil {
		if err := s.store.Close(); err != nil {
			s.log.Warn("closing datastore", "error", err)
		}
	}
}

// isClosedErr tells a listener closed by the shutdown from a failure; a gRPC server that
// the shutdown stopped before its Serve began says ErrServerStopped.
func isClosedErr(err error) bool {
	return errors.Is(err, net.ErrClosed) || errors.Is(err, grpc.ErrServerStopped) ||
		strings.Contains(err.Error(), "use of closed network connection")
}
