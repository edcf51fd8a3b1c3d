package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/spiffe/go-spiffe/v2/bundle/spiffebundle"
	"k8s.io/utils/clock"

	"github.com/lanyard-dev/lanyard/agent/admin"
	"github.com/lanyard-dev/lanyard/agent/attest"
	"github.com/lanyard-dev/lanyard/agent/broker"
	"github.com/lanyard-dev/lanyard/agent/cache"
	"github.com/lanyard-dev/lanyard/agent/client"
	"github.com/lanyard-dev/lanyard/agent/config"
	"github.com/lanyard-dev/lanyard/agent/manager"
	"github.com/lanyard-dev/lanyard/agent/workloadapi"
	"github.com/lanyard-dev/lanyard/attestors/k8s"
	"github.com/lanyard-dev/lanyard/internal/health"
	"github.com/lanyard-dev/lanyard/internal/unixsock"
	"github.com/lanyard-dev/lanyard/internal/version"
)

// Run attests (unless a saved agent SVID is still valid), then serves the Workload API
// until ctx ends or the server rejects the agent.
func Run(ctx context.Context, cfg config.Config, log *slog.Logger, opts ...Option) error {
	return run(ctx, cfg, log, clock.RealClock{}, opts...)
}

// run is Run on clk, which drives agent SVID renewal and the manager's timers. It builds
// the agent in the order its data flows, each part handed to the next:
// identity (attest) → connection (client) → cache → manager → Workload API → admin/health.
func run(ctx context.Context, cfg config.Config, log *slog.Logger, clk clock.WithTicker, opts ...Option) error {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	started := clk.Now()
	td := cfg.TD()

	// The agent's own identity: the saved agent SVID while it is valid, else a new one
	// from node attestation.
	id, err := attest.Bootstrap(ctx, attest.Config{Agent: cfg, Clock: clk, Log: log, DialOptions: o.dial})
	if err != nil {
		return err
	}
	// The connection to the server, presenting that SVID; renewal replaces it.
	first, err := id.Dial()
	if err != nil {
		return err
	}
	conn := client.NewCurrent(first)
	defer conn.Close()
	renewer := attest.NewRenewer(id, conn)

	// The cache of entries, SVIDs and bundles, trusting what the agent trusts until the
	// server sends its bundle.
	c := cache.New(td, log.With("component", "cache"), clk)
	if b := id.TLS.Bundle(); b != nil {
		c.SetBundle(spiffebundle.FromX509Authorities(td, b.X509Authorities()))
	}
	// The manager: the server's entries and bundles into the cache, and the SVIDs the
	// cache says are due minted over the connection.
	mgr := manager.New(manager.Config{
		TrustDomain: td, Client: conn.Get, Switched: conn.Changed(), OnHandover: conn.CloseRetired, Cache: c,
		OnBundle: id.TrustBundle, OnTainted: renewer.Tainted, Clock: clk, Log: log.With("component", "manager"),
		AgentVersion: "lanyard-agent " + version.Get(), NoWIT: !cfg.WorkloadAPI.WITSVIDsOn(),
	})
	// The Workload API, serving the cache to attested workloads.
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), c.Collector())
	wattestors, err := workloadapi.NewAttestors(cfg, log)
	if err != nil {
		return err
	}
	defer func() {
		for _, wa := range wattestors {
			if k, ok := wa.(*k8s.Attestor); ok {
				k.CloseIdleConnections()
			}
		}
	}()
	wl := workloadapi.New(workloadapi.Config{
		Cache: c, JWT: mgr.JWTCache(), Log: log.With("component", "workloadapi"), Registerer: reg,
		Attestors:            wattestors,
		MaxConnectionsPerUID: cfg.WorkloadAPI.MaxConnectionsPerUID,
		MaxConnections:       cfg.WorkloadAPI.MaxConnections,
		MaxResponseBytes:     cfg.WorkloadAPI.MaxResponseBytes,
		Ready:                renewer.Ready,
		NoWIT:                !cfg.WorkloadAPI.WITSVIDsOn(),
	})
	front := []task{{"workload API", func(ctx context.Context) error { return wl.Serve(ctx, cfg.SocketPath) }}}
	// The admin socket and the health endpoint, for operators.
	if cfg.AdminSocketPath != "" {
		ln, err := admin.Listen(cfg.AdminSocketPath)
		if err != nil {
			return fmt.Errorf("admin_socket_path: %w", err)
		}
		defer ln.Close() // for an early return; admin.Serve closes it too
		acfg := admin.Config{Identity: id.TLS, Sync: mgr, X509: c, JWT: mgr.JWTCache(), Levels: o.levels, Started: started,
			Clock: clk, Log: log.With("component", "admin"),
			Delegated: &admin.Delegated{Delegates: cfg.DelegateIDs(), Cache: c, JWT: mgr.JWTCache(), Attestors: wattestors}}
		front = append(front, task{"admin API", func(ctx context.Context) error { return admin.Serve(ctx, ln, acfg) }})
	}
	if b := cfg.BrokerAPI; b != nil {
		ln, err := unixsock.Listen(b.SocketPath, 0o666) // mutual TLS decides who may call
		if err != nil {
			return fmt.Errorf("broker_api.socket_path: %w", err)
		}
		defer ln.Close()
		bcfg := broker.Config{Brokers: cfg.BrokerIDs(), Cache: c, JWT: mgr.JWTCache(), Attestors: wattestors,
			Certificate: id.TLS.Certificate, Clock: clk, Log: log.With("component", "broker")}
		for _, wa := range wattestors {
			if k, ok := wa.(*k8s.Attestor); ok {
				bcfg.Pods = k // KubernetesObjectReferences to pods
			}
		}
		front = append(front, task{"broker API", func(ctx context.Context) error { return broker.Serve(ctx, ln, bcfg) }})
	}
	if addr := cfg.HealthAddr(); addr != "" {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return fmt.Errorf("listening on health_address %s: %w", addr, err)
		}
		front = append(front, task{"health", func(ctx context.Context) error { return health.Serve(ctx, ln, renewer.Ready, reg) }})
	}

	log.Info("lanyard-agent started", "agent_id", id.ID.String(), "socket", cfg.SocketPath, "servers", cfg.ServerAddrs())
	err = runTasks(ctx, []task{{"manager", mgr.Run}, {"agent SVID renewal", renewer.Run}}, front)
	if !errors.Is(err, manager.ErrRejected) {
		return err
	}
	// The saved SVID is worthless now; without it the next start attests afresh.
	if cerr := id.Forget(); cerr != nil {
		log.Error("clearing saved agent SVID", "error", cerr)
	}
	if attest.Reattestable(cfg) {
		return fmt.Errorf("the server evicted or banned this agent; restart it to attest again: %w", err)
	}
	return fmt.Errorf("the server evicted or banned this agent; attest again with a new join token: %w", err)
}
