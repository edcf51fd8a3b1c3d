package workloadapi

import (
	"fmt"
	"log/slog"
	"slices"
	"testing"

	"github.com/spiffe/go-spiffe/v2/svid/jwtsvid"
	wlapi "github.com/spiffe/go-spiffe/v2/workloadapi"
	"google.golang.org/grpc"

	"github.com/lanyard-dev/lanyard/internal/logbuf"
)

// A workload matched by more entries than fit in one response still gets its default
// SVID and as many more as fit, from a client that keeps the response limit (here
// lowered, with the server's, from gRPC's default 4 MiB to 16 KiB so that 60 entries
// exceed it), and the agent's log says why the others are missing.
func TestAWorkloadMatchedByMoreEntriesThanFitGetsTheFirstOnes(t *testing.T) {
	const limit = 16 << 10
	log := &logbuf.Buffer{}
	e := start(t, func(c *Config) {
		c.MaxResponseBytes = limit
		c.Log = slog.New(slog.NewTextHandler(log, nil))
	})
	const n = 60
	var ids []string
	for i := range n {
		id := fmt.Sprintf("spiffe://example.org/many/%02d", i)
		e.add(fmt.Sprintf("e%02d", i), id, nil, selfUID)
		ids = append(ids, id)
	}
	c, err := wlapi.New(ctxT(t), wlapi.WithAddr(e.addr),
		wlapi.WithDialOptions(grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(limit))))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	svids, err := c.FetchX509SVIDs(ctxT(t))
	if err != nil {
		t.Fatalf("FetchX509SVIDs with a %d-byte receive limit: %v", limit, err)
	}
	var got []string
	for _, s := range svids {
		got = append(got, s.ID.String())
	}
	if len(got) == 0 || len(got) >= n || !slices.Equal(got, ids[:len(got)]) {
		t.Fatalf("got SVIDs %q; want the first few (not all %d) in SPIFFE ID order", got, n)
	}
	if !log.Contains("more entries than fit") || !log.Contains(fmt.Sprintf("matched=%d served=%d", n, len(got))) {
		t.Fatalf("the agent did not log that the response was cut:\n%s", log.String())
	}

	jwts, err := c.FetchJWTSVIDs(ctxT(t), jwtsvid.Params{Audience: "db"})
	if err != nil {
		t.Fatalf("FetchJWTSVIDs with a %d-byte receive limit: %v", limit, err)
	}
	if len(jwts) == 0 || len(jwts) >= n || jwts[0].ID.String() != ids[0] {
		t.Fatalf("got %d JWT-SVIDs, the first %v; want the first few of %d, %s first", len(jwts), jwts[0].ID, n, ids[0])
	}
	if int(e.mints.Load()) > len(jwts)+1 {
		t.Fatalf("the agent minted %d JWT-SVIDs to serve %d", e.mints.Load(), len(jwts))
	}
}
