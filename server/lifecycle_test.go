package server

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	entryv1 "github.com/spiffe/spire-api-sdk/proto/spire/api/server/entry/v1"
	"github.com/spiffe/spire-api-sdk/proto/spire/api/types"
	"go.uber.org/goleak"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Stop must end open streams at once (not wait for agents to hang up), and Wait must
// return only after every goroutine has returned and the datastore is closed, so a
// process that exits after Wait loses nothing.
func TestStopEndsStreamsJoinsGoroutinesAndClosesTheStoreBeforeWaitReturns(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	cfg := newConfig(t)
	health := "127.0.0.1:0"
	cfg.HealthAddress = &health
	ts := startServer(t, cfg)
	res := ts.attest()
	agent := ts.dialAs(res.Chain, res.Key)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	stream := openWatch(t, ctx, agent)
	// A SPIRE agent's sync stream, paged (over 1000 entries) and waiting for the agent to
	// ask for entries by ID.
	var entries []*types.Entry
	for i := range 1001 {
		entries = append(entries, entry(fmt.Sprintf("/w%d", i), res.ID, "unix:uid:1000"))
	}
	for start := 0; start < len(entries); start += 500 {
		ts.createEntries(entries[start:min(start+500, len(entries))]...)
	}
	sync, err := agent.Entry.SyncAuthorizedEntries(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := sync.Send(&entryv1.SyncAuthorizedEntriesRequest{}); err != nil {
		t.Fatal(err)
	}
	for more := true; more; {
		page, err := sync.Recv()
		if err != nil {
			t.Fatalf("sync revisions: %v", err)
		}
		more = page.More
	}

	ts.srv.Stop()
	for name, recv := range map[string]func() error{
		"push stream": func() error { _, err := stream.Recv(); return err },
		"sync stream": func() error { _, err := sync.Recv(); return err },
	} {
		var err error
		for err == nil {
			err = recv()
		}
		if status.Code(err) != codes.Unavailable || !strings.Contains(err.Error(), "shutting down") {
			t.Fatalf("open %s ended with %v; want Unavailable saying the server is shutting down", name, err)
		}
	}
	if err := ts.srv.Wait(); err != nil {
		t.Fatal(err)
	}
	if _, err := ts.srv.store.GetBundle(ctx, testTD.Name()); err == nil || !strings.Contains(err.Error(), "closed") {
		t.Fatalf("datastore after Wait returned: %v; want it closed", err)
	}
	agent.Close()
	ts.admin.Close()
}

// A start that fails half way leaves no goroutine behind and its datastore closed.
func TestFailedStartLeavesNothingRunning(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	cfg := newConfig(t)
	cfg.BindPort = busy.Addr().(*net.TCPAddr).Port
	_, err = Start(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err == nil || !strings.Contains(err.Error(), strconv.Itoa(cfg.BindPort)) {
		t.Fatalf("starting on a busy port: %v; want an error naming the port", err)
	}
}
