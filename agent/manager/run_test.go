package manager

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	svidv1 "github.com/spiffe/spire-api-sdk/proto/spire/api/server/svid/v1"
	"go.uber.org/goleak"
	"google.golang.org/grpc"

	"github.com/lanyard-dev/lanyard/agent/cache"
	"github.com/lanyard-dev/lanyard/agent/client"
	"github.com/lanyard-dev/lanyard/internal/poll"
	syncv1 "github.com/lanyard-dev/lanyard/proto/lanyard/agent/v1"
)

// stuckServer accepts an entry stream and JWT-SVID requests and answers neither until the
// client gives up, like a server that hangs.
type stuckServer struct {
	syncv1.UnimplementedEntrySyncServer
	svidv1.UnimplementedSVIDServer
	watching, minting chan struct{}
}

func (s *stuckServer) Watch(_ *syncv1.WatchRequest, stream syncv1.EntrySync_WatchServer) error {
	s.watching <- struct{}{}
	<-stream.Context().Done()
	return stream.Context().Err()
}

func (s *stuckServer) NewJWTSVID(ctx context.Context, _ *svidv1.NewJWTSVIDRequest) (*svidv1.NewJWTSVIDResponse, error) {
	s.minting <- struct{}{}
	<-ctx.Done()
	return nil, ctx.Err()
}

// TestRunLeavesNoGoroutineBehind stops a manager while its entry stream and a JWT-SVID
// mint hang on the server: Run must not return before everything it started has ended.
func TestRunLeavesNoGoroutineBehind(t *testing.T) {
	td := spiffeid.RequireTrustDomainFromString("example.org")
	srv := &stuckServer{watching: make(chan struct{}, 10), minting: make(chan struct{}, 10)}
	conn := serveUnix(t, func(g *grpc.Server) {
		syncv1.RegisterEntrySyncServer(g, srv)
		svidv1.RegisterSVIDServer(g, srv)
	})
	conn.Connect()
	poll.Until(t, 10*time.Second, "the connection to be ready", func() bool { return conn.GetState().String() == "READY" })
	leaks := goleak.IgnoreCurrent()

	c := &client.Client{SVID: svidv1.NewSVIDClient(conn), Sync: syncv1.NewEntrySyncClient(conn)}
	m := New(Config{TrustDomain: td, Client: func() *client.Client { return c }, Cache: cache.New(td, nil, nil), Log: slog.New(slog.DiscardHandler)})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	<-srv.watching

	fctx, fcancel := context.WithCancel(context.Background())
	fetched := make(chan error, 1)
	go func() {
		_, err := m.JWTCache().Fetch(fctx, &cache.Entry{ID: "e1", SPIFFEID: "spiffe://example.org/w"}, []string{"aud"})
		fetched <- err
	}()
	<-srv.minting
	fcancel() // the workload gives up; the shared mint goes on
	if err := <-fetched; !errors.Is(err, context.Canceled) {
		t.Fatalf("abandoned fetch: %v", err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	goleak.VerifyNone(t, leaks)
}
