package manager

import (
	"context"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/spire-api-sdk/proto/spire/api/types"
	"google.golang.org/grpc"

	"github.com/lanyard-dev/lanyard/agent/cache"
	"github.com/lanyard-dev/lanyard/agent/client"
	"github.com/lanyard-dev/lanyard/internal/poll"
	syncv1 "github.com/lanyard-dev/lanyard/proto/lanyard/agent/v1"
)

// pushServer sends an empty complete set when released, then whatever is put on push,
// reporting when the stream opens.
type pushServer struct {
	syncv1.UnimplementedEntrySyncServer
	opened  chan struct{}
	release chan struct{}
	push    chan *syncv1.WatchResponse
}

func newPushServer() *pushServer {
	return &pushServer{opened: make(chan struct{}, 10), release: make(chan struct{}), push: make(chan *syncv1.WatchResponse)}
}

func (s *pushServer) Watch(_ *syncv1.WatchRequest, stream syncv1.EntrySync_WatchServer) error {
	s.opened <- struct{}{}
	select {
	case <-s.release:
	case <-stream.Context().Done():
		return stream.Context().Err()
	}
	if err := stream.Send(&syncv1.WatchResponse{Full: true}); err != nil {
		return err
	}
	for {
		select {
		case resp := <-s.push:
			if err := stream.Send(resp); err != nil {
				return err
			}
		case <-stream.Context().Done():
			return stream.Context().Err()
		}
	}
}

// aliasEntry is a node alias: it reaches the cache but is not minted.
func aliasEntry(id string) *syncv1.WatchResponse {
	return &syncv1.WatchResponse{Upserted: []*types.Entry{{Id: id,
		SpiffeId:  &types.SPIFFEID{TrustDomain: "example.org", Path: "/nodes/" + id},
		ParentId:  &types.SPIFFEID{TrustDomain: "example.org", Path: "/spire/server"},
		Selectors: []*types.Selector{{Type: "spiffe_id", Value: "spiffe://example.org/spire/agent/x"}}}}}
}

// TestRenewedConnectionTakesOverTheStreamBeforeTheOldOneEnds: after Switched the
// manager opens the stream on the new connection while it still follows the old one, moves
// to the new one when it delivers (its complete set replaces the entries), and then lets
// the agent close the old connection.
func TestRenewedConnectionTakesOverTheStreamBeforeTheOldOneEnds(t *testing.T) {
	td := spiffeid.RequireTrustDomainFromString("example.org")
	oldSrv, newSrv := newPushServer(), newPushServer()
	close(oldSrv.release)
	oldConn := serveUnix(t, func(g *grpc.Server) { syncv1.RegisterEntrySyncServer(g, oldSrv) })
	newConn := serveUnix(t, func(g *grpc.Server) { syncv1.RegisterEntrySyncServer(g, newSrv) })
	var current atomic.Pointer[client.Client]
	current.Store(&client.Client{Sync: syncv1.NewEntrySyncClient(oldConn)})
	var handovers atomic.Int32
	ch := cache.New(td, nil, nil)
	switched := make(chan struct{}, 1)
	m := New(Config{TrustDomain: td, Client: current.Load, Switched: switched, Cache: ch, Log: slog.New(slog.DiscardHandler),
		OnHandover: func() { handovers.Add(1) }})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	<-oldSrv.opened

	current.Store(&client.Client{Sync: syncv1.NewEntrySyncClient(newConn)})
	switched <- struct{}{}
	<-newSrv.opened
	// The new stream is open but has sent nothing: the old one must still be followed.
	entries := func() int { n, _ := ch.Counts(); return n }
	select {
	case oldSrv.push <- aliasEntry("a"):
	case <-time.After(30 * time.Second):
		t.Fatal("the old stream was given up before the new one delivered anything")
	}
	poll.Until(t, 30*time.Second, "an entry sent on the old stream after the new one opened", func() bool { return entries() == 1 })
	if handovers.Load() != 0 {
		t.Fatal("handover reported before the new stream delivered")
	}
	close(newSrv.release)
	poll.Until(t, 30*time.Second, "the handover to be reported", func() bool { return handovers.Load() == 1 })
	poll.Until(t, 30*time.Second, "the new stream's complete set to replace the entries", func() bool { return entries() == 0 })
	newSrv.push <- aliasEntry("b")
	poll.Until(t, 30*time.Second, "an entry sent on the new stream", func() bool { return entries() == 1 })
}
