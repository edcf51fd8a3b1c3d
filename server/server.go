package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
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
	"github.com/lanyard-dev/lanyard/internal/unixsock"
	"github.com/lanyard-dev/lanyard/server/ca"
	"github.com/lanyard-dev/lanyard/server/config"
	"github.com/lanyard-dev/lanyard/server/datastore"
	"github.com/lanyard-dev/lanyard/server/entrycache"
	"github.com/lanyard-dev/lanyard/server/k8sreg"
	"github.com/lanyard-dev/lanyard/server/keymanager"
)

// Server is a running lanyard-server.
type Server struct {
	cfg     config.Config
	log     *slog.Logger
	td      spiffeid.TrustDomain
	store   datastore.Store
	ca      *ca.CA
	entries *entrycache.Cache
	bundles *bundleSource
	tls     *serverTLS
	reg     *prometheus.Registry
	fed     federationParts
	// entryAPI is the entry service, for in-process writers (Kubernetes registration).
	entryAPI k8sreg.EntryAPI

	tcpLn, adminLn, healthLn net.Listener
	clk                      clock.WithTicker

	levels  *loglevel.Control // nil: no logger API
	started time.Time

	cancel context.CancelFunc
	wg     sync.WaitGroup // every goroutine the server starts
	done   chan struct{}  // closed once everything has stopped and the datastore is closed
	errMu  sync.Mutex
	err    error
}

// Option changes how Start builds the server.
type Option func(*Server)

// WithLogLevels serves the logger API (SPIRE's logger/v1) over the level that log's
// handler reads, so operators can change it while the server runs.
func WithLogLevels(c *loglevel.Control) Option { return func(s *Server) { s.levels = c } }

// Start opens everything, starts serving and returns once the server accepts connections.
// It stops when ctx is cancelled; Wait returns after everything has stopped.
func Start(ctx context.Context, cfg config.Config, log *slog.Logger, opts ...Option) (_ *Server, err error) {
	ctx, cancel := context.WithCancel(ctx)
	s := &Server{cfg: cfg, log: log, td: cfg.TD(), cancel: cancel, reg: prometheus.NewRegistry(),
		clk: cfg.Clock, done: make(chan struct{})}
	if s.clk == nil {
		s.clk = clock.RealClock{}
	}
	s.started = s.clk.Now()
	for _, o := range opts {
		o(s)
	}
	defer func() {
		if err != nil {
			// Components started so far use the store: join them before closing it.
			cancel()
			s.wg.Wait()
			s.closeAll()
		}
	}()
	s.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("creating data_dir: %w", err)
	}
	if s.store, err = openDatastore(ctx, cfg, log.With("component", "datastore")); err != nil {
		return nil, fmt.Errorf("opening datastore: %w", err)
	}
	if err := checkPriorState(ctx, cfg, s.store, log); err != nil {
		return nil, err
	}
	km, err := s.keyManager()
	if err != nil {
		return nil, err
	}
	serverID, err := loadServerID(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	var upstream *ca.Upstream
	if u := cfg.UpstreamAuthority; u != nil {
		if upstream, err = ca.LoadUpstream(u.CertFile, u.KeyFile, u.BundleFile, time.Now()); err != nil {
			return nil, fmt.Errorf("upstream_authority: %w", err)
		}
	}
	if s.ca, err = ca.New(ctx, ca.Config{
		TrustDomain: s.td, ServerID: serverID, KeyManager: km, Store: s.store,
		X509KeyType: keymanager.KeyType(cfg.CAKeyType), JWTKeyType: keymanager.KeyType(cfg.JWTKeyType),
		CATTL: cfg.CATTL.D(), JWTIssuer: cfg.JWTIssuer, Log: log.With("component", "ca"), Upstream: upstream,
		Clock: s.clk,
	}); err != nil {
		return nil, fmt.Errorf("starting CA: %w", err)
	}
	if s.entries, err = entrycache.New(ctx, entrycache.Config{Store: s.store, TrustDomain: s.td, Log: log.With("component", "entrycache"), Now: s.clk.Now}); err != nil {
		return nil, fmt.Errorf("loading entries: %w", err)
	}
	s.bundles = newBundleSource(s.td, s.store, log.With("component", "bundles"))
	if err := s.bundles.load(ctx); err != nil {
		return nil, fmt.Errorf("loading trust bundle: %w", err)
	}
	s.tls = &serverTLS{id: spireid.Server(s.td), signer: s.ca, ttl: cfg.DefaultX509SVIDTTL.D(), bundles: s.bundles, log: log, clock: s.clk}
	if err := s.tls.rotate(ctx); err != nil {
		return nil, err
	}
	verifiers, err := s.nodeVerifiers()
	if err != nil {
		return nil, err
	}
	if err := s.listen(); err != nil {
		return nil, err
	}
	if err := s.setUpFederation(ctx); err != nil {
		return nil, err
	}
	tcpSrv, adminSrv := s.grpcServers(ctx, verifiers)
	if err := s.startKubernetes(ctx, s.entryAPI); err != nil {
		return nil, err
	}

	s.goRun("ca", func() error { return s.ca.Run(ctx) })
	s.goRun("entrycache", func() error { return s.entries.Run(ctx) })
	s.goRun("bundles", func() error { s.bundles.run(ctx); return nil })
	s.goRun("server-svid", func() error { s.tls.run(ctx); return nil })
	s.goRun("housekeeping", func() error { s.housekeeping(ctx); return nil })
	s.goRun("tcp", func() error { return tcpSrv.Serve(s.tcpLn) })
	s.goRun("admin", func() error { return adminSrv.Serve(s.adminLn) })
	s.runFederation(ctx)
	if s.healthLn != nil {
		s.goRun("health", func() error { return health.Serve(ctx, s.healthLn, s.ready, s.reg) })
	}
	go s.shutdown(ctx, tcpSrv, adminSrv)
	log.Info("lanyard-server started", "trust_domain", s.td.Name(), "address", s.tcpLn.Addr().String(),
		"admin_socket", cfg.AdminSocketPath, "health", s.HealthAddr(), "bundle_endpoint", s.BundleEndpointAddr(), "oidc", s.OIDCAddr())
	return s, nil
}

// Addr is the TCP address agents connect to.
func (s *Server) Addr() net.Addr { return s.tcpLn.Addr() }

// HealthAddr is the health/metrics address, "" when disabled.
func (s *Server) HealthAddr() string {
	if s.healthLn == nil {
		return ""
	}
	return s.healthLn.Addr().String()
}

// Stop cancels the server; Wait then returns.
func (s *Server) Stop() { s.cancel() }

// shutdown stops the server in order once ctx is done: the gRPC servers stop accepting
// and their streams end (they are tied to ctx), then every goroutine is joined, and only
// then are the listeners and the datastore closed.
func (s *Server) shutdown(ctx context.Context, grpcServers ...*grpc.Server) {
	<-ctx.Done()
	for _, g := range grpcServers {
		stopGRPC(s.clk, g, 3*time.Second)
	}
	s.wg.Wait()
	s.closeAll()
	close(s.done)
}

// Wait blocks until the server has stopped, its goroutines have returned and its
// datastore is closed, and returns the first failure of a component.
func (s *Server) Wait() error {
	<-s.done
	s.errMu.Lock()
	defer s.errMu.Unlock()
	return s.err
}

func (s *Server) goRun(name string, f func() error) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if err := f(); err != nil && !errors.Is(err, context.Canceled) && !isClosedErr(err) {
			s.log.Error("component failed; stopping server", "component", name, "error", err)
			s.errMu.Lock()
			if s.err == nil {
				s.err = fmt.Errorf("%s: %w", name, err)
			}
			s.errMu.Unlock()
			s.cancel()
		}
	}()
}

func (s *Server) ready(ctx context.Context) error {
	if _, err := s.store.GetBundle(ctx, s.td.Name()); err != nil {
		return fmt.Errorf("datastore: %w", err)
	}
	if leaf := s.tls.cert.Load(); leaf == nil || s.clk.Now().After(leaf.Leaf.NotAfter) {
		return errors.New("server SVID expired")
	}
	return nil
}

func (s *Server) keyManager() (keymanager.KeyManager, error) {
	if s.cfg.KeyManager == "memory" {
		return keymanager.NewMemory(), nil
	}
	km, err := keymanager.NewDisk(filepath.Join(s.cfg.DataDir, "keys"))
	if err != nil {
		return nil, fmt.Errorf("opening disk key manager: %w", err)
	}
	return km, nil
}

func (s *Server) listen() error {
	var err error
	addr := net.JoinHostPort(s.cfg.BindAddress, strconv.Itoa(s.cfg.BindPort))
	if s.tcpLn, err = net.Listen("tcp", addr); err != nil {
		return fmt.Errorf("listening on bind_address:bind_port %s: %w", addr, err)
	}
	// 0600: whoever can connect to the admin socket is an administrator.
	if s.adminLn, err = unixsock.Listen(s.cfg.AdminSocketPath, 0o600); err != nil {
		return fmt.Errorf("admin_socket_path: %w", err)
	}
	if h := s.cfg.HealthAddr(); h != "" {
		if s.healthLn, err = net.Listen("tcp", h); err != nil {
			return fmt.Errorf("listening on health_address %s: %w", h, err)
		}
	}
	return nil
}

// housekeeping prunes expired join tokens and entries, and old entry events.
func (s *Server) housekeeping(ctx context.Context) {
	t := s.clk.NewTicker(time.Minute)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C():
		}
		now := s.clk.Now()
		if err := s.store.PruneJoinTokens(ctx, now); err != nil && ctx.Err() == nil {
			s.log.Warn("pruning join tokens", "error", err)
		}
		if err := s.pruneExpiredEntries(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("pruning expired entries", "error", err)
		}
		if err := s.store.PruneEntryEvents(ctx, now.Add(-time.Hour)); err != nil && ctx.Err() == nil {
			s.log.Warn("pruning entry events", "error", err)
		}
	}
}

func (s *Server) closeAll() {
	for _, ln := range []net.Listener{s.tcpLn, s.adminLn, s.healthLn, s.fed.endpointLn, s.fed.oidcLn} {
		if ln != nil {
			ln.Close()
		}
	}
	if s.store != nil {
		if err := s.store.Close(); err != nil {
			s.log.Warn("closing datastore", "error", err)
		}
	}
}

// loadServerID returns this server's stable ID (keys its CA journal), creating it once.
func loadServerID(dataDir string) (string, error) {
	path := filepath.Join(dataDir, "server_id")
	if b, err := os.ReadFile(path); err == nil {
		return strings.TrimSpace(string(b)), nil
	}
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	id := hex.EncodeToString(b)
	if err := os.WriteFile(path, []byte(id+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("writing server ID: %w", err)
	}
	return id, nil
}

// isClosedErr tells a listener closed by the shutdown from a failure; a gRPC server that
// the shutdown stopped before its Serve began says ErrServerStopped.
func isClosedErr(err error) bool {
	return errors.Is(err, net.ErrClosed) || errors.Is(err, grpc.ErrServerStopped) ||
		strings.Contains(err.Error(), "use of closed network connection")
}
