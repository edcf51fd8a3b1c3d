package server

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	entryv1 "github.com/spiffe/spire-api-sdk/proto/spire/api/server/entry/v1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/lanyard-dev/lanyard/agent/attest"
	"github.com/lanyard-dev/lanyard/agent/client"
)

// An agent that could not save a renewed SVID keeps the old one and renews again later;
// after a restart it presents the old one. The server must keep accepting it until the
// agent presents a new one, and only then retire it.
func TestRenewedAgentSVIDReplacesTheOldOnlyOnceItIsPresented(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cfg := newConfig(t)
	ts := startServer(t, cfg)
	res := ts.attest()
	current := ts.dialAs(res.Chain, res.Key)
	use := func(c *client.Client) error {
		_, err := c.Entry.GetAuthorizedEntries(ctx, &entryv1.GetAuthorizedEntriesRequest{})
		return err
	}
	lost, err := attest.Renew(ctx, current.Agent, res.ID)
	if err != nil {
		t.Fatal(err)
	}
	renewed, err := attest.Renew(ctx, current.Agent, res.ID)
	if err != nil {
		t.Fatal(err)
	}
	if err := use(current); err != nil {
		t.Fatalf("the old SVID on its open connection after two renewals: %v", err)
	}
	if err := use(ts.dialAs(res.Chain, res.Key)); err != nil {
		t.Fatalf("the old SVID on a new connection after two renewals: %v", err)
	}

	ts.stop()
	ts = startServer(t, cfg)
	if err := use(ts.dialAs(res.Chain, res.Key)); err != nil {
		t.Fatalf("the old SVID after a server restart: %v", err)
	}

	// The new SVID's first use may come on several new connections at once: each gets in.
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		c := ts.dialAs(renewed.Chain, renewed.Key)
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = use(c) }()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("first use of the renewed SVID on connection %d: %v", i, err)
		}
	}
	for name, r := range map[string]*attest.Result{"the old SVID": res, "the superseded renewal": lost} {
		err := use(ts.dialAs(r.Chain, r.Key))
		if status.Code(err) != codes.PermissionDenied || !strings.Contains(err.Error(), "no longer active") {
			t.Fatalf("%s after the new one was presented: %v; want PermissionDenied, no longer active", name, err)
		}
	}
}
