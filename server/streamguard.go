package server

import (
	"context"
	"sync"
	"time"

	"google.golang.org/grpc"

	"github.com/lanyard-dev/lanyard/server/api"
)

// streamGuard ends an agent's long-lived streams (entry push, sync) as soon as the agent
// is evicted, banned or its SVID retired: authentication happens once when a stream
// opens, so without this a banned agent would keep receiving entries.
type streamGuard struct {
	auth  *api.Authenticator
	every time.Duration // re-check even without a signal, for changes made by other servers

	mu   sync.Mutex
	subs map[chan struct{}]struct{}
}

func newStreamGuard(auth *api.Authenticator) *streamGuard {
	return &streamGuard{auth: auth, every: 30 * time.Second, subs: map[chan struct{}]struct{}{}}
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

	var denied error
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(g.every)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-ch:
			case <-t.C:
			}
			if _, err := g.auth.CheckAgentCert(ctx, caller.ID, caller.Cert); err != nil && ctx.Err() == nil {
				denied = err
				cancel()
				return
			}
		}
	}()
	err := handler(srv, &guardedStream{ServerStream: ss, ctx: ctx})
	cancel()
	<-done
	if denied != nil {
		return denied
	}
	return err
}

type guardedStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s *guardedStream) Context() context.Context { return s.ctx }
