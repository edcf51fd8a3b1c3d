package server

import (
	"context"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

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

	ts.srv.Stop()
	var err error
	for err == nil {
		_, err = stream.Recv()
	}
	if status.Code(err) != codes.Unavailable || !strings.Contains(err.Error(), "shutting down") {
		t.Fatalf("open stream ended with %v; want Unavailable saying the server is shutting down", err)
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
