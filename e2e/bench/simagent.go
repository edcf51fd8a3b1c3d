package main

import (
	"context"
	"crypto/x509"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spiffe/go-spiffe/v2/bundle/x509bundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	agentv1 "github.com/spiffe/spire-api-sdk/proto/spire/api/server/agent/v1"
	bundlev1 "github.com/spiffe/spire-api-sdk/proto/spire/api/server/bundle/v1"
	"google.golang.org/grpc"

	"github.com/lanyard-dev/lanyard/agent/attest"
	"github.com/lanyard-dev/lanyard/agent/cache"
	"github.com/lanyard-dev/lanyard/agent/client"
	"github.com/lanyard-dev/lanyard/agent/manager"
	"github.com/lanyard-dev/lanyard/attestors/jointoken"
	syncv1 "github.com/lanyard-dev/lanyard/proto/lanyard/agent/v1"
)

// fleet is N simulated agents in this process. Each is assembled from the real agent's
// parts as agent.Run assembles them: attested with its own join token (agent/attest), its
// own mTLS connection (agent/client), its own cache and manager following the server's
// entry push stream and minting the SVIDs its entries call for. What is left out is what
// serves workloads (the Workload API socket) and agent SVID renewal, which the short
// benchmark never reaches. The stream is observed through a client interceptor, so what
// is measured is the moment a message reaches the agent. With several servers the agents
// are split between them in equal consecutive shares, each knowing only its own server.
type fleet struct {
	td      spiffeid.TrustDomain
	addrs   []string
	bundle  *x509bundle.Bundle
	agents  []*simAgent
	ctx     context.Context
	stop    context.CancelFunc
	running sync.WaitGroup

	// watched is the SPIFFE ID path of the entry whose arrival is being timed, and since when.
	mu       sync.Mutex
	watched  string
	since    time.Time
	arrivals []time.Duration
	arrived  chan struct{} // closed when every agent has the watched entry
}

// simAgent is one simulated agent.
type simAgent struct {
	token    string
	id       spiffeid.ID
	server   int           // index in fleet.addrs of the one server it talks to
	arrival  time.Duration // when the watched entry reached it; guarded by fleet.mu
	conn     *client.Client
	fullSets atomic.Int64 // complete sets received (the last message of each)
	lastFull atomic.Int64 // when the last complete set arrived, Unix nanoseconds
	hasWatch atomic.Bool
}

// newFleet creates n join tokens through the admin API (workers calls at a time) and the
// agents that will use them, split between the servers at addrs; agentIDs are known
// before they attest.
func newFleet(ctx context.Context, admin *grpc.ClientConn, td spiffeid.TrustDomain, addrs []string, n, workers int) (*fleet, error) {
	pb, err := bundlev1.NewBundleClient(admin).GetBundle(ctx, &bundlev1.GetBundleRequest{})
	if err != nil {
		return nil, fmt.Errorf("bundle: %w", err)
	}
	var cas []*x509.Certificate
	for _, a := range pb.X509Authorities {
		cert, err := x509.ParseCertificate(a.Asn1)
		if err != nil {
			return nil, err
		}
		cas = append(cas, cert)
	}
	f := &fleet{td: td, addrs: addrs, bundle: x509bundle.FromX509Authorities(td, cas), agents: make([]*simAgent, n)}
	f.ctx, f.stop = context.WithCancel(context.Background())
	tokens := agentv1.NewAgentClient(admin)
	err = parallel(ctx, n, workers, func(i int) error {
		tok, err := tokens.CreateJoinToken(ctx, &agentv1.CreateJoinTokenRequest{Ttl: 3600})
		if err != nil {
			return fmt.Errorf("join token: %w", err)
		}
		f.agents[i] = &simAgent{token: tok.Value, id: spiffeid.RequireFromPath(td, "/spire/agent/join_token/"+tok.Value), server: i * len(addrs) / n}
		return nil
	})
	return f, err
}

// attestAll attests every agent (workers at a time), each over its own bootstrap
// connection, and starts its connection and manager.
func (f *fleet) attestAll(ctx context.Context, workers int) error {
	return parallel(ctx, len(f.agents), workers, func(i int) error { return f.start(ctx, i) })
}

func (f *fleet) start(ctx context.Context, i int) error {
	a := f.agents[i]
	id := client.NewIdentity(f.td)
	id.SetBundle(f.bundle)
	addrs := []string{f.addrs[a.server]}
	boot, err := client.Dial(addrs, id)
	if err != nil {
		return err
	}
	res, err := attest.Attest(ctx, boot.Agent, jointoken.Prover{Token: a.token})
	boot.Close()
	if err != nil {
		return fmt.Errorf("attesting agent %d: %w", i, err)
	}
	id.SetSVID(res.Chain, res.Key)
	if a.conn, err = client.Dial(addrs, id, grpc.WithChainStreamInterceptor(f.observe(a))); err != nil {
		return err
	}
	mgr := manager.New(manager.Config{
		TrustDomain: f.td, Client: func() *client.Client { return a.conn }, Cache: cache.New(f.td, nil, nil),
		OnBundle: nil, Log: slog.New(slog.DiscardHandler), NoWIT: true,
	})
	f.running.Add(1)
	go func() {
		defer f.running.Done()
		_ = mgr.Run(f.ctx)
	}()
	return nil
}

// observe records, for agent a, complete sets and the arrival of the watched entry.
func (f *fleet) observe(a *simAgent) grpc.StreamClientInterceptor {
	return func(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
		s, err := streamer(ctx, desc, cc, method, opts...)
		if err != nil || method != syncv1.EntrySync_Watch_FullMethodName {
			return s, err
		}
		return &observedStream{ClientStream: s, fleet: f, agent: a}, nil
	}
}

type observedStream struct {
	grpc.ClientStream
	fleet *fleet
	agent *simAgent
	full  bool // inside a complete set
}

func (s *observedStream) RecvMsg(m any) error {
	if err := s.ClientStream.RecvMsg(m); err != nil {
		return err
	}
	resp, ok := m.(*syncv1.WatchResponse)
	if !ok {
		return nil
	}
	now := time.Now()
	if resp.Full {
		s.full = true
	}
	if s.full && !resp.More {
		s.full = false
		s.agent.lastFull.Store(now.UnixNano())
		s.agent.fullSets.Add(1)
	}
	s.fleet.mu.Lock()
	defer s.fleet.mu.Unlock()
	if s.fleet.watched == "" || s.agent.hasWatch.Load() {
		return nil
	}
	for _, e := range resp.Upserted {
		if e.SpiffeId != nil && e.SpiffeId.Path == s.fleet.watched {
			s.agent.hasWatch.Store(true)
			s.agent.arrival = now.Sub(s.fleet.since)
			s.fleet.arrivals = append(s.fleet.arrivals, s.agent.arrival)
			if len(s.fleet.arrivals) == len(s.fleet.agents) {
				close(s.fleet.arrived)
			}
			break
		}
	}
	return nil
}

// watchArrival times the arrival at every agent of an entry with SPIFFE ID path, which
// create must create. It returns the delays from just before create, one per agent.
func (f *fleet) watchArrival(ctx context.Context, within time.Duration, path string, create func() error) ([]time.Duration, error) {
	f.mu.Lock()
	for _, a := range f.agents {
		a.hasWatch.Store(false)
	}
	f.watched, f.since, f.arrivals, f.arrived = path, time.Now(), nil, make(chan struct{})
	arrived := f.arrived
	f.mu.Unlock()
	err := create()
	if err == nil {
		err = waitFor(ctx, within, "every agent to receive the entry", func() bool {
			select {
			case <-arrived:
				return true
			default:
				return false
			}
		})
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	out := f.arrivals
	f.watched = ""
	if err != nil {
		return nil, fmt.Errorf("%w (%d of %d agents have it)", err, len(out), len(f.agents))
	}
	return out, nil
}

// synced reports how many agents have received a complete set after t.
func (f *fleet) synced(after time.Time) (n int, last time.Time) {
	for _, a := range f.agents {
		if ns := a.lastFull.Load(); ns > after.UnixNano() {
			n++
			if at := time.Unix(0, ns); at.After(last) {
				last = at
			}
		}
	}
	return n, last
}

// arrivalsAt returns, from the last watchArrival, the delays of the agents of one server.
func (f *fleet) arrivalsAt(server int) []time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []time.Duration
	for _, a := range f.agents {
		if a.server == server && a.hasWatch.Load() {
			out = append(out, a.arrival)
		}
	}
	return out
}

// close stops every agent and closes its connection.
func (f *fleet) close() {
	f.stop()
	f.running.Wait()
	for _, a := range f.agents {
		if a != nil && a.conn != nil {
			a.conn.Close()
		}
	}
}

// parallel runs do(0..n-1) on workers goroutines and returns the first error.
func parallel(ctx context.Context, n, workers int, do func(i int) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	next := atomic.Int64{}
	var first error
	var once sync.Once
	var wg sync.WaitGroup
	for range min(workers, n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				if err := do(i); err != nil {
					once.Do(func() { first = err; cancel() })
					return
				}
			}
		}()
	}
	wg.Wait()
	if first == nil && ctx.Err() != nil {
		return ctx.Err()
	}
	return first
}
