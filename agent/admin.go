package agent

import (
	"context"
	"fmt"
	"net"
	"time"

	"github.com/lanyard-dev/lanyard/agent/admin"
	"github.com/lanyard-dev/lanyard/internal/loglevel"
)

// Option changes how Run runs the agent.
type Option func(*options)

type options struct {
	levels *loglevel.Control
}

// WithLogLevels serves the admin API's Logger service over the level that log's handler
// reads, so that an operator can change it while the agent runs.
func WithLogLevels(c *loglevel.Control) Option { return func(o *options) { o.levels = c } }

// listenAdmin opens admin_socket_path, or returns nil when it is not set.
func (a *Agent) listenAdmin() (net.Listener, error) {
	if a.cfg.AdminSocketPath == "" {
		return nil, nil
	}
	ln, err := admin.Listen(a.cfg.AdminSocketPath)
	if err != nil {
		return nil, fmt.Errorf("admin_socket_path: %w", err)
	}
	return ln, nil
}

// serveAdmin serves the admin API on ln until ctx ends.
func (a *Agent) serveAdmin(ctx context.Context, ln net.Listener, started time.Time, o options) error {
	return admin.Serve(ctx, ln, admin.Config{
		Agent: adminView{a}, Levels: o.levels, Started: started, Clock: a.clock, Log: a.log.With("component", "admin"),
	})
}

// adminView is what the admin API's GetInfo reads from the running agent.
type adminView struct{ a *Agent }

func (v adminView) SVIDChain() [][]byte { return v.a.identity.SVIDChain() }

func (v adminView) LastSync() time.Time { return v.a.mgr.LastSync() }

func (v adminView) CachedSVIDs() (x509, jwt int) {
	_, x509 = v.a.cache.Counts()
	return x509, v.a.mgr.JWTCache().Count()
}
