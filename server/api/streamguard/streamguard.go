// Package streamguard ends an agent's long-lived streams as soon as the agent may no longer
// have them: evicted, banned, its SVID retired or expired. Authorization happens once when a
// stream opens; the guard re-checks for as long as it stays open.
package streamguard

import (
	"context"
	"sync"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"google.golang.org/grpc"
	"k8s.io/utils/clock"

	"github.com/lanyard-dev/lanyard/server/api"
)

// Guard ends an agent's long-lived streams (entry push, sync) as soon as the agent is
// evicted or banned, its SVID retired, or its SVID expires: authentication happens once
// when a stream opens, so without this a banned or expired agent would keep receiving entries.
type Guard struct {
	auth  *api.Authenticator
	clock clock.WithTicker
	every time.Duration // re-check even without a signal, for changes made by other servers

	mu   sync.Mutex
	subs map[spiffeid.ID]map[chan struct{}]struct{} // agent → its streams' signals
}

// New returns a guard that re-checks agents with auth, on clk's time.
func New(auth *api.Authenticator, clk clock.WithTicker) *Guard {
	return &Guard{auth: auth, clock: clk, every: 30 * time.Second, subs: map[spiffeid.ID]map[chan struct{}]struct{}{}}
}

// AgentChanged tells the guarded streams of agent id to re-check it. Only that agent's
// streams: with thousands of agents connected, waking every stream on each attestation
// would cost a datastore read per stream per attestation.
func (g *Guard) AgentChanged(id spiffeid.ID) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for ch := range g.subs[id] {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

// Interceptor guards agents' streams. It must run after the authorization interceptor,
// which put the caller in ctx.
func (g *Guard) Interceptor(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	caller := api.CallerFrom(ss.Context())
	if caller.Kind != api.AgentCaller {
		return handler(srv, ss)
	}
	ctx, cancel := context.WithCancel(ss.Context())
	defer cancel()
	ch := make(chan struct{}, 1)
	g.mu.Lock()
	if g.subs[caller.ID] == nil {
		g.subs[caller.ID] = map[chan struct{}]struct{}{}
	}
	g.subs[caller.ID][ch] = struct{}{}
	g.mu.Unlock()
	defer func() {
		g.mu.Lock()
		delete(g.subs[caller.ID], ch)
		if len(g.subs[caller.ID]) == 0 {
			delete(g.subs, caller.ID)
		}
		g.mu.Unlock()
	}()

	// Armed before the handler runs, so the stream's expiry is due from its first message.
	// It fires at NotAfter, from when CheckAgentCert counts the SVID as expired.
	tick := g.clock.NewTicker(g.every)
	defer tick.Stop()
	expiry := g.clock.NewTimer(caller.Cert.NotAfter.Sub(g.clock.Now()))
	defer expiry.Stop()
	var denied error
	done := make(chan struct{})
	go func() {
		defer close(done)
		denied = g.watch(ctx, caller, ch, tick.C(), expiry.C())
		cancel()
	}()
	err := handler(srv, &guardedStream{ServerStream: ss, ctx: ctx})
	cancel()
	<-done
	if denied != nil {
		return denied
	}
	return err
}

// watch returns the reason the caller's stream must end, or nil when ctx ends first.
func (g *Guard) watch(ctx context.Context, caller *api.Caller, changed <-chan struct{}, tick, expiry <-chan time.Time) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-expiry: // CheckAgentCert says why: expired, or renewed on another connection
		case <-changed:
		case <-tick:
		}
		if _, err := g.auth.CheckAgentCert(ctx, caller.ID, caller.Cert); err != nil && ctx.Err() == nil {
			return err
		}
	}
}

type guardedStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s *guardedStream) Context() context.Context { return s.ctx }
