package servertest

import (
	"context"
	"crypto/x509"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/bundle/x509bundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	agentv1 "github.com/spiffe/spire-api-sdk/proto/spire/api/server/agent/v1"
	bundlev1 "github.com/spiffe/spire-api-sdk/proto/spire/api/server/bundle/v1"
	"google.golang.org/grpc"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/lanyard-dev/lanyard/internal/adminclient"
	"github.com/lanyard-dev/lanyard/server"
	"github.com/lanyard-dev/lanyard/server/config"
)

// Server is a lanyard-server running in the test's process. It stops when the test ends.
type Server struct {
	t testing.TB
	// Config is what the server was started with.
	Config config.Config
	// Server is the running server.
	Server *server.Server
	// Clock is the server's one clock: it stands still until the test steps it.
	Clock *clocktesting.FakeClock
	// Admin is a connection to the admin unix socket: every call on it is an administrator's.
	Admin *grpc.ClientConn
	// SocketPath is the admin socket.
	SocketPath string
	// TrustDomain is the server's trust domain.
	TrustDomain spiffeid.TrustDomain

	stopOnce sync.Once
	cancel   context.CancelFunc
}

// Option changes how Start configures the server.
type Option func(*options)

type options struct {
	td      string
	km      string
	yaml    string
	srvOpts []server.Option
	log     *slog.Logger
}

// WithTrustDomain sets the trust domain (default example.org).
func WithTrustDomain(name string) Option { return func(o *options) { o.td = name } }

// WithYAML appends configuration keys (YAML) to the test configuration, which sets
// trust_domain, bind_port (0), health_address (off), key_manager (memory, see
// WithKeyManager), oidc.address (off), data_dir and admin_socket_path; give only other keys.
func WithYAML(extra string) Option { return func(o *options) { o.yaml += extra } }

// WithKeyManager sets key_manager (default memory); its own section goes in WithYAML.
func WithKeyManager(name string) Option { return func(o *options) { o.km = name } }

// WithServerOptions passes options on to server.Start (e.g. server.WithLogLevels).
func WithServerOptions(opts ...server.Option) Option {
	return func(o *options) { o.srvOpts = append(o.srvOpts, opts...) }
}

// WithLogger sets the server's logger (default: discard everything).
func WithLogger(log *slog.Logger) Option { return func(o *options) { o.log = log } }

// Start starts a server and waits until it accepts connections.
func Start(t testing.TB, opts ...Option) *Server {
	t.Helper()
	o := options{td: "example.org", km: "memory", log: slog.New(slog.DiscardHandler)}
	for _, f := range opts {
		f(&o)
	}
	dir, err := os.MkdirTemp("", "lanyard-st-") // short: unix socket paths are limited
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	sock := filepath.Join(dir, "admin.sock")
	cfg, err := config.Parse([]byte("trust_domain: " + o.td + "\nbind_port: 0\nhealth_address: \"\"\nkey_manager: " + o.km + "\n" +
		"oidc:\n  address: \"\"\ndata_dir: " + filepath.Join(dir, "data") + "\nadmin_socket_path: " + sock + "\n" + o.yaml))
	if err != nil {
		t.Fatalf("test server configuration: %v", err)
	}
	// Whole seconds: the APIs speak Unix seconds, so tests can compare them exactly.
	clk := clocktesting.NewFakeClock(time.Now().Truncate(time.Second))
	cfg.Clock = clk
	ctx, cancel := context.WithCancel(context.Background())
	srv, err := server.Start(ctx, cfg, o.log, o.srvOpts...)
	if err != nil {
		cancel()
		t.Fatalf("starting lanyard-server: %v", err)
	}
	s := &Server{t: t, Config: cfg, Server: srv, Clock: clk, SocketPath: sock, TrustDomain: cfg.TD(), cancel: cancel}
	t.Cleanup(s.Stop)
	if s.Admin, err = adminclient.Dial(ctx, "server", sock); err != nil {
		t.Fatal(err)
	}
	return s
}

// Stop stops the server and fails the test if it stopped with an error. Later calls do
// nothing.
func (s *Server) Stop() {
	s.stopOnce.Do(func() {
		if s.Admin != nil {
			_ = s.Admin.Close()
		}
		s.cancel()
		if err := s.Server.Wait(); err != nil {
			s.t.Errorf("lanyard-server stopped with an error: %v", err)
		}
	})
}

// Addr is the agent-facing TCP address.
func (s *Server) Addr() string { return s.Server.Addr().String() }

// Bundle is the server's X.509 trust bundle, read through the bundle API.
func (s *Server) Bundle() *x509bundle.Bundle {
	s.t.Helper()
	b, err := bundlev1.NewBundleClient(s.Admin).GetBundle(context.Background(), &bundlev1.GetBundleRequest{})
	if err != nil {
		s.t.Fatalf("GetBundle: %v", err)
	}
	certs := make([]*x509.Certificate, 0, len(b.X509Authorities))
	for _, a := range b.X509Authorities {
		c, err := x509.ParseCertificate(a.Asn1)
		if err != nil {
			s.t.Fatalf("bundle authority: %v", err)
		}
		certs = append(certs, c)
	}
	return x509bundle.FromX509Authorities(s.TrustDomain, certs)
}

// JoinToken creates a join token valid for ttl (whole seconds) through the admin API.
func (s *Server) JoinToken(ttl time.Duration) string {
	s.t.Helper()
	tok, err := agentv1.NewAgentClient(s.Admin).CreateJoinToken(context.Background(), &agentv1.CreateJoinTokenRequest{Ttl: int32(ttl / time.Second)})
	if err != nil {
		s.t.Fatalf("CreateJoinToken: %v", err)
	}
	return tok.Value
}
