package admin

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	debugv1 "github.com/spiffe/spire-api-sdk/proto/spire/api/agent/debug/v1"
	loggerv1 "github.com/spiffe/spire-api-sdk/proto/spire/api/agent/logger/v1"
	"google.golang.org/grpc"
	"k8s.io/utils/clock"

	"github.com/lanyard-dev/lanyard/internal/loglevel"
	"github.com/lanyard-dev/lanyard/internal/unixsock"
)

// Config configures the admin server. GetInfo reads the running agent through the small
// interfaces below; their methods are called from any goroutine.
type Config struct {
	// Identity is the agent's own: SVIDChain returns the agent SVID chain in use (DER,
	// leaf first), nil before the first.
	Identity interface{ SVIDChain() [][]byte }
	// Sync is the manager: LastSync returns when the server last delivered the agent's
	// entries, zero if it has not since the agent started.
	Sync interface{ LastSync() time.Time }
	// X509 is the cache: Counts returns its entries and unexpired X.509-SVIDs.
	X509 interface{ Counts() (entries, svids int) }
	// JWT is the JWT-SVID cache: Count returns the JWT-SVIDs it holds.
	JWT interface{ Count() int }
	// Levels is the level the agent's log handler reads. Nil: the Logger service is not
	// served (calls answer Unimplemented).
	Levels *loglevel.Control
	// Started is when the agent started, for the uptime.
	Started time.Time
	// Clock tells the uptime. Default the real clock.
	Clock clock.PassiveClock
	Log   *slog.Logger
}

// Listen opens the admin socket: mode 0600, so that only the agent's own user (and root)
// can call it, in a directory no other user can write (see unixsock.Listen).
func Listen(path string) (net.Listener, error) {
	return unixsock.Listen(path, 0o600)
}

// Serve serves the admin API on ln until ctx ends, then closes ln (removing the socket).
func Serve(ctx context.Context, ln net.Listener, cfg Config) error {
	if cfg.Clock == nil {
		cfg.Clock = clock.RealClock{}
	}
	gs := grpc.NewServer()
	debugv1.RegisterDebugServer(gs, &debugService{cfg: cfg})
	if cfg.Levels != nil {
		loggerv1.RegisterLoggerServer(gs, &loggerService{levels: cfg.Levels})
	}
	errc := make(chan error, 1)
	go func() { errc <- gs.Serve(ln) }()
	cfg.Log.Info("admin API listening", "socket", ln.Addr().String())
	select {
	case err := <-errc:
		if errors.Is(err, grpc.ErrServerStopped) {
			return nil
		}
		return fmt.Errorf("serving %s: %w", ln.Addr(), err)
	case <-ctx.Done():
	}
	gs.Stop() // every call is a quick unary one: nothing worth waiting for
	<-errc
	return nil
}
