package agent

import (
	"context"
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/spiffe/go-spiffe/v2/bundle/spiffebundle"
	"github.com/spiffe/go-spiffe/v2/bundle/x509bundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"
	"k8s.io/utils/clock"

	"github.com/lanyard-dev/lanyard/agent/attest"
	"github.com/lanyard-dev/lanyard/agent/cache"
	"github.com/lanyard-dev/lanyard/agent/client"
	"github.com/lanyard-dev/lanyard/agent/config"
	"github.com/lanyard-dev/lanyard/agent/manager"
	"github.com/lanyard-dev/lanyard/agent/state"
	"github.com/lanyard-dev/lanyard/agent/workloadapi"
	"github.com/lanyard-dev/lanyard/internal/health"
	"github.com/lanyard-dev/lanyard/internal/version"
)

// Agent is a running lanyard-agent.
type Agent struct {
	cfg      config.Config
	log      *slog.Logger
	clock    clock.WithTicker
	td       spiffeid.TrustDomain
	state    state.Dir
	identity *client.Identity
	agentID  spiffeid.ID
	client   atomic.Pointer[client.Client]
	cache    *cache.Cache
	mgr      *manager.Manager
	reg      *prometheus.Registry
	// renewNow wakes renewLoop when a tainted authority signed the agent SVID.
	renewNow chan struct{}

	mu sync.Mutex
	// retired are connections replaced by a renewal, closed once the entry stream moved.
	retired []*client.Client
	// needsToken is set when the agent SVID expired and the node attestor cannot prove
	// the node again by itself (join_token): only an operator can bring the agent back.
	needsToken string
}

// Run attests (unless a saved agent SVID is still valid), then serves the Workload API
// until ctx ends or the server rejects the agent.
func Run(ctx context.Context, cfg config.Config, log *slog.Logger, opts ...Option) error {
	return run(ctx, cfg, log, clock.RealClock{}, opts...)
}

// run is Run on clk, which drives agent SVID renewal and the manager's timers.
//
// Shutdown is ordered: the Workload API and health endpoint stop accepting and end their
// streams first (workloads are told nothing false while the rest winds down), then the
// manager and the renewal loop, and only when every goroutine has returned are the server
// connections closed.
func run(ctx context.Context, cfg config.Config, log *slog.Logger, clk clock.WithTicker, opts ...Option) error {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	started := clk.Now()
	a := &Agent{cfg: cfg, log: log, clock: clk, td: cfg.TD(), state: state.Dir{Path: cfg.DataDir}, reg: prometheus.NewRegistry(),
		renewNow: make(chan struct{}, 1)}
	a.identity = client.NewIdentity(a.td)
	a.identity.SetClock(clk)
	a.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if err := a.bootstrap(ctx); err != nil {
		return err
	}
	defer a.closeClients()

	a.cache = cache.New(a.td, log.With("component", "cache"))
	a.registerCacheMetrics()
	if b := a.identity.Bundle(); b != nil {
		a.cache.SetBundle(spiffebundle.FromX509Authorities(a.td, b.X509Authorities()))
	}
	a.mgr = manager.New(manager.Config{
		TrustDomain: a.td, Client: a.client.Load, Cache: a.cache, Log: log.With("component", "manager"),
		OnBundle: a.onBundle, OnHandover: a.closeRetired, OnTainted: a.onTainted, Clock: clk, AgentVersion: "lanyard-agent " + version.Get(),
	})
	wattestors, err := a.workloadAttestors()
	if err != nil {
		return err
	}
	wl := workloadapi.New(workloadapi.Config{
		Cache: a.cache, JWT: a.mgr.JWTCache(), Log: log.With("component", "workloadapi"), Registerer: a.reg,
		Attestors:            wattestors,
		MaxConnectionsPerUID: cfg.WorkloadAPI.MaxConnectionsPerUID,
		MaxConnections:       cfg.WorkloadAPI.MaxConnections,
	})
	adminLn, err := a.listenAdmin()
	if err != nil {
		return err
	}
	if adminLn != nil {
		defer adminLn.Close() // for an early return; serveAdmin closes it too
	}
	var healthLn net.Listener
	if addr := cfg.HealthAddr(); addr != "" {
		if healthLn, err = net.Listen("tcp", addr); err != nil {
			return fmt.Errorf("listening on health_address %s: %w", addr, err)
		}
	}

	ctx, stop := context.WithCancel(ctx)
	defer stop()
	serveCtx, stopServing := context.WithCancel(context.Background())
	defer stopServing()
	errc := make(chan error, 5)
	var front, back sync.WaitGroup
	spawn := func(wg *sync.WaitGroup, runCtx context.Context, name string, f func(context.Context) error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := f(runCtx); err != nil && ctx.Err() == nil {
				errc <- fmt.Errorf("%s: %w", name, err)
				stop()
			}
		}()
	}
	spawn(&back, ctx, "manager", a.mgr.Run)
	spawn(&back, ctx, "agent SVID renewal", a.renewLoop)
	spawn(&front, serveCtx, "workload API", func(c context.Context) error { return wl.Serve(c, cfg.SocketPath) })
	if adminLn != nil {
		spawn(&front, serveCtx, "admin API", func(c context.Context) error { return a.serveAdmin(c, adminLn, started, o) })
	}
	if healthLn != nil {
		spawn(&front, serveCtx, "health", func(c context.Context) error { return health.Serve(c, healthLn, a.ready, a.reg) })
	}
	log.Info("lanyard-agent started", "agent_id", a.agentID.String(), "socket", cfg.SocketPath, "servers", cfg.ServerAddrs())
	<-ctx.Done()
	stopServing()
	front.Wait()
	back.Wait()
	select {
	case err := <-errc:
		if errors.Is(err, manager.ErrRejected) {
			// The saved SVID is worthless now; without it the next start attests afresh.
			if cerr := a.state.Clear(); cerr != nil {
				a.log.Error("clearing saved agent SVID", "error", cerr)
			}
			if a.reattestable() {
				return fmt.Errorf("the server evicted or banned this agent; restart it to attest again: %w", err)
			}
			return fmt.Errorf("the server evicted or banned this agent; attest again with a new join token: %w", err)
		}
		return err
	default:
		return nil
	}
}

// bootstrap loads trust and the agent SVID, attesting when there is no valid saved SVID.
func (a *Agent) bootstrap(ctx context.Context) error {
	b, err := a.state.LoadBundle(a.td)
	switch {
	case err == nil:
		a.identity.SetBundle(b)
	case !errors.Is(err, state.ErrNone):
		return err
	case a.cfg.TrustBundlePath != "":
		if b, err = state.LoadBundleFile(a.td, a.cfg.TrustBundlePath); err != nil {
			return fmt.Errorf("trust_bundle_path: %w", err)
		}
		a.identity.SetBundle(b)
	case a.cfg.InsecureBootstrap:
		a.log.Warn("insecure_bootstrap: the server is not verified on the first connection")
		a.identity.SetInsecureBootstrap(true)
	default:
		return errors.New("no trust bundle: set trust_bundle_path to the server's CA (lanyard-server bundle show) or insecure_bootstrap: true")
	}

	chain, key, err := a.state.LoadSVID()
	if err == nil && a.clock.Now().Before(chain[0].NotAfter) {
		return a.useSVID(chain, key)
	}
	if err != nil && !errors.Is(err, state.ErrNone) {
		return err
	}
	return a.attest(ctx)
}

func (a *Agent) attest(ctx context.Context) error {
	prover, err := a.nodeProver()
	if err != nil {
		return err
	}
	c, err := client.Dial(a.cfg.ServerAddrs(), a.identity)
	if err != nil {
		return err
	}
	defer c.Close()
	actx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	res, err := attest.Attest(actx, c.Agent, prover)
	if err != nil {
		return fmt.Errorf("node attestation failed: %w", err)
	}
	if a.identity.Bundle() == nil {
		if err := a.fetchBootstrapBundle(actx, c, res.Chain); err != nil {
			return err
		}
	}
	if err := a.state.SaveSVID(res.Chain, res.Key); err != nil {
		return fmt.Errorf("saving agent SVID: %w", err)
	}
	a.log.Info("node attested", "agent_id", res.ID.String())
	return a.useSVID(res.Chain, res.Key)
}

// fetchBootstrapBundle trusts the server's bundle after an insecure first connection, as
// long as the SVID it just issued chains to it.
func (a *Agent) fetchBootstrapBundle(ctx context.Context, c *client.Client, chain []*x509.Certificate) error {
	pb, err := c.Bundle.GetBundle(ctx, nil)
	if err != nil {
		return fmt.Errorf("fetching trust bundle: %w", err)
	}
	var certs []*x509.Certificate
	for _, auth := range pb.X509Authorities {
		cert, err := x509.ParseCertificate(auth.Asn1)
		if err != nil {
			return fmt.Errorf("server bundle holds an unparsable certificate: %w", err)
		}
		certs = append(certs, cert)
	}
	b := x509bundle.FromX509Authorities(a.td, certs)
	if _, _, err := x509svid.Verify(chain, b); err != nil {
		return fmt.Errorf("agent SVID does not verify against the server's bundle: %w", err)
	}
	a.identity.SetBundle(b)
	a.identity.SetInsecureBootstrap(false)
	return a.state.SaveBundle(b)
}

// useSVID starts using the agent's first SVID of this run.
func (a *Agent) useSVID(chain []*x509.Certificate, key crypto.Signer) error {
	id, err := x509svid.IDFromCert(chain[0])
	if err != nil {
		return fmt.Errorf("agent SVID: %w", err)
	}
	if !id.MemberOf(a.td) {
		return fmt.Errorf("agent SVID %s is not in trust domain %q", id, a.td.Name())
	}
	a.agentID = id
	a.identity.SetSVID(chain, key)
	c, err := client.Dial(a.cfg.ServerAddrs(), a.identity)
	if err != nil {
		return err
	}
	a.client.Store(c)
	return nil
}

// closeRetired closes the connections a renewal replaced.
func (a *Agent) closeRetired() {
	a.mu.Lock()
	old := a.retired
	a.retired = nil
	a.mu.Unlock()
	for _, c := range old {
		_ = c.Close()
	}
}

func (a *Agent) closeClients() {
	a.closeRetired()
	if c := a.client.Load(); c != nil {
		_ = c.Close()
	}
}

// onBundle trusts a new bundle for server connections and saves it for restarts.
func (a *Agent) onBundle(b *spiffebundle.Bundle) {
	xb := b.X509Bundle()
	a.identity.SetBundle(xb)
	if err := a.state.SaveBundle(xb); err != nil {
		a.log.Warn("saving trust bundle", "error", err)
	}
}

// registerCacheMetrics exposes the cache's size, so operators see an agent falling behind
// (entries without SVIDs) and benchmarks know when minting is complete.
func (a *Agent) registerCacheMetrics() {
	a.reg.MustRegister(cacheCollector{a.cache})
}

var (
	entriesDesc = prometheus.NewDesc("lanyard_agent_entries", "Registration entries the agent is authorized for.", nil, nil)
	svidsDesc   = prometheus.NewDesc("lanyard_agent_x509_svids", "Entries with a current (unexpired) X.509-SVID in the cache.", nil, nil)
)

// cacheCollector reports both gauges from one walk of the cache per scrape.
type cacheCollector struct{ c *cache.Cache }

func (cacheCollector) Describe(ch chan<- *prometheus.Desc) { ch <- entriesDesc; ch <- svidsDesc }

func (cc cacheCollector) Collect(ch chan<- prometheus.Metric) {
	entries, svids := cc.c.Counts()
	ch <- prometheus.MustNewConstMetric(entriesDesc, prometheus.GaugeValue, float64(entries))
	ch <- prometheus.MustNewConstMetric(svidsDesc, prometheus.GaugeValue, float64(svids))
}
