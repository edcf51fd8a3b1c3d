package server

import (
	"context"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"k8s.io/utils/clock"

	"github.com/lanyard-dev/lanyard/server/api"
)

// streamGuard ends an agent's long-lived streams (entry push, sync) as soon as the agent
// is evicted or banned, its SVID retired, or its SVID expires: authentication happens once
// when a stream opens, so without this a banned or expired agent would keep receiving entries.
type streamGuard struct {
	auth  *api.Authenticator
	clock clock.WithTicker
	every time.Duration // re-check even without a signal, for changes made by other servers

	mu   sync.Mutex
	subs map[chan struct{}]struct{}
}

func newStreamGuard(auth *api.Authenticator, clk clock.WithTicker) *streamGuard {
	return &streamGuard{auth: auth, clock: clk, every: 30 * time.Second, subs: map[chan struct{}]struct{}{}}
}

// AgentsChanged tells every guarded stream to re-check its agent.
func (g *streamGuard) AgentsChanged() {
	g.mu.Lock()
	defer g.mu.Unlock()
	for ch := range g.subs {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

// interceptor must run after the authorization interceptor, which put the caller in ctx.
func (g *streamGuard) interceptor(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	caller := api.CallerFrom(ss.Context())
	if caller.Kind != api.AgentCaller {
		return handler(srv, ss)
	}
	ctx, cancel := context.WithCancel(ss.Context())
	defer cancel()
	ch := make(chan struct{}, 1)
	g.mu.Lock()
	g.subs[ch] = struct{}{}
	g.mu.Unlock()
	defer func() {
		g.mu.Lock()
		delete(g.subs, ch)
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
func (g *streamGuard) watch(ctx context.Context, caller *api.Caller, changed <-chan struct{}, tick, expiry <-chan time.Time) error {
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

// untilStopped ties every stream to the server's lifetime: when stop is done, streams end
// with Unavailable, so a graceful stop does not wait for agents to hang up.
func untilStopped(stop context.Context) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		ctx, cancel := context.WithCancel(ss.Context())
		defer cancel()
		defer context.AfterFunc(stop, cancel)()
		err := handler(srv, &guardedStream{ServerStream: ss, ctx: ctx})
		if err != nil && stop.Err() != nil && ss.Context().Err() == nil {
			return status.Error(codes.Unavailable, "lanyard-server is shutting down; reconnect when it is back (or to another server)")
		}
		return err
	}
}

type guardedStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s *guardedStream) Context() context.Context { return s.ctx }
