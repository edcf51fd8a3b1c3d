package admin

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	debugv1 "github.com/spiffe/spire-api-sdk/proto/spire/api/agent/debug/v1"
	delegatedv1 "github.com/spiffe/spire-api-sdk/proto/spire/api/agent/delegatedidentity/v1"
	loggerv1 "github.com/spiffe/spire-api-sdk/proto/spire/api/agent/logger/v1"
	"google.golang.org/grpc"
	"k8s.io/utils/clock"

	"github.com/lanyard-dev/lanyard/agent/cache"
	"github.com/lanyard-dev/lanyard/agent/peer"
	"github.com/lanyard-dev/lanyard/attestors"
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
	// Delegated configures the Delegated Identity API. Nil: not served (Unimplemented).
	Delegated *Delegated
	// Clock tells the uptime and, for the Delegated Identity API, when SVIDs expire.
	// Default the real clock.
	Clock clock.Clock
	Log   *slog.Logger
}

// Delegated is what the Delegated Identity API serves from.
type Delegated struct {
	// Delegates are the authorized_delegates; none: every caller is refused.
	Delegates []spiffeid.ID
	// Cache is the one source of entries, SVIDs and bundles. Required.
	Cache *cache.Cache
	// JWT mints JWT-SVIDs; nil: FetchJWTSVIDs answers Unavailable.
	JWT JWTFetcher
	// Attestors attest callers and the PIDs they name, as the Workload API's do. Required.
	Attestors []attestors.WorkloadAttestor
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
	gs := grpc.NewServer(
		// Callers are told apart by their process, as on the Workload API.
		grpc.Creds(peer.NewCredentials()),
		// One Delegated Identity update is one message (see delegatedService), so a
		// delegate of thousands of workloads gets messages of many MiB: gRPC's default
		// send limit is already unbounded, and this says so on purpose.
		grpc.MaxSendMsgSize(math.MaxInt32),
	)
	debugv1.RegisterDebugServer(gs, &debugService{cfg: cfg})
	if cfg.Levels != nil {
		loggerv1.RegisterLoggerServer(gs, &loggerService{levels: cfg.Levels})
	}
	if d := cfg.Delegated; d != nil {
		ids := make(map[spiffeid.ID]bool, len(d.Delegates))
		for _, id := range d.Delegates {
			ids[id] = true
		}
		delegatedv1.RegisterDelegatedIdentityServer(gs, &delegatedService{jwt: d.JWT, d: &delegation{
			ids: ids, cache: d.Cache, attestors: d.Attestors, clk: cfg.Clock, log: cfg.Log}})
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
	gs.Stop() // unary calls are quick, and delegates' streams reconnect to the next agent
	<-errc
	return nil
}
