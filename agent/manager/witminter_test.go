package manager

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	svidv1 "github.com/spiffe/spire-api-sdk/proto/spire/api/server/svid/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/lanyard-dev/lanyard/agent/cache"
	"github.com/lanyard-dev/lanyard/agent/client"
	"github.com/lanyard-dev/lanyard/attestors"
	"github.com/lanyard-dev/lanyard/internal/poll"
	"github.com/lanyard-dev/lanyard/internal/testca"
)

// noWITServer signs X.509-SVIDs and answers BatchNewWITSVID as a server without
// WIT-SVIDs does (SPIRE 1.13), counting the calls.
type noWITServer struct {
	*signingServer
	witCalls atomic.Int32
}

func (s *noWITServer) BatchNewWITSVID(context.Context, *svidv1.BatchNewWITSVIDRequest) (*svidv1.BatchNewWITSVIDResponse, error) {
	s.witCalls.Add(1)
	return nil, status.Error(codes.Unimplemented, "unknown method BatchNewWITSVID")
}

// Against a server without WIT-SVIDs the agent keeps minting X.509-SVIDs, asks for
// WIT-SVIDs once, and again only after witUnsupportedRetry.
func TestMinterLeavesAServerWithoutWITSVIDsAlone(t *testing.T) {
	ca, caKey := testca.New(t, "ca", nil, nil, time.Now().Add(time.Hour))
	srv := &noWITServer{signingServer: &signingServer{sign: func(tmpl *x509.Certificate, pub any) ([]byte, error) {
		return x509.CreateCertificate(rand.Reader, tmpl, ca, pub, caKey)
	}}}
	conn := serveUnix(t, func(g *grpc.Server) { svidv1.RegisterSVIDServer(g, srv) })
	c := &client.Client{SVID: svidv1.NewSVIDClient(conn)}
	store := cache.New(spiffeid.RequireTrustDomainFromString("example.org"), nil, nil)
	clk := clocktesting.NewFakeClock(time.Now())
	m := newMinter(func() *client.Client { return c }, slog.New(slog.DiscardHandler), store, clk)
	sels := []attestors.Selector{{Type: "unix", Value: "uid:1"}}
	store.UpdateEntries([]*cache.Entry{{ID: "a", SPIFFEID: "spiffe://example.org/a", Selectors: sels}}, nil, false)
	// A workload asks for WIT-SVIDs: only then does the agent mint them.
	sub := store.SubscribeWIT(sels)
	defer sub.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.run(ctx) }()
	defer func() { cancel(); <-done }()
	m.wake()
	poll.Until(t, 30*time.Second, "the X.509-SVID and one WIT-SVID request", func() bool {
		return len(store.Match(sels).Identities) == 1 && srv.witCalls.Load() == 1
	})

	// Two more rounds a minute later, each started by a new entry: the first has ended when
	// the second's X.509-SVID arrives (one goroutine mints), WIT part included.
	clk.Step(time.Minute)
	for i, id := range []string{"b", "c"} {
		store.UpdateEntries([]*cache.Entry{{ID: id, SPIFFEID: "spiffe://example.org/" + id, Selectors: sels}}, nil, false)
		m.wake()
		poll.Until(t, 30*time.Second, "entry "+id+"'s X.509-SVID", func() bool { return len(store.Match(sels).Identities) == i+2 })
	}
	if n := srv.witCalls.Load(); n != 1 {
		t.Fatalf("%d BatchNewWITSVID calls within the retry interval; want 1", n)
	}
	clk.Step(witUnsupportedRetry)
	poll.Until(t, 30*time.Second, "the WIT-SVID request after the retry interval", func() bool { return srv.witCalls.Load() == 2 })
}

// TestAMinterWithoutWITSVIDsNeverAsksForThem: with workload_api.wit_svids: false the agent
// mints X.509-SVIDs only.
func TestAMinterWithoutWITSVIDsNeverAsksForThem(t *testing.T) {
	ca, caKey := testca.New(t, "ca", nil, nil, time.Now().Add(time.Hour))
	srv := &noWITServer{signingServer: &signingServer{sign: func(tmpl *x509.Certificate, pub any) ([]byte, error) {
		return x509.CreateCertificate(rand.Reader, tmpl, ca, pub, caKey)
	}}}
	conn := serveUnix(t, func(g *grpc.Server) { svidv1.RegisterSVIDServer(g, srv) })
	c := &client.Client{SVID: svidv1.NewSVIDClient(conn)}
	store := cache.New(spiffeid.RequireTrustDomainFromString("example.org"), nil, nil)
	m := newMinter(func() *client.Client { return c }, slog.New(slog.DiscardHandler), store, clocktesting.NewFakeClock(time.Now()))
	m.noWIT = true
	sels := []attestors.Selector{{Type: "unix", Value: "uid:1"}}
	store.UpdateEntries([]*cache.Entry{{ID: "a", SPIFFEID: "spiffe://example.org/a", Selectors: sels}}, nil, false)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.run(ctx) }()
	m.wake()
	defer func() { cancel(); <-done }()
	poll.Until(t, 30*time.Second, "the X.509-SVID", func() bool { return len(store.Match(sels).Identities) == 1 })
	// One goroutine mints: once a second entry's X.509-SVID arrives, the first round,
	// WIT part included, has ended.
	store.UpdateEntries([]*cache.Entry{{ID: "b", SPIFFEID: "spiffe://example.org/b", Selectors: sels}}, nil, false)
	m.wake()
	poll.Until(t, 30*time.Second, "the second X.509-SVID", func() bool { return len(store.Match(sels).Identities) == 2 })
	if n := srv.witCalls.Load(); n != 0 {
		t.Fatalf("%d BatchNewWITSVID calls; want none", n)
	}
}
