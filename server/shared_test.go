package server

import (
	"context"
	"fmt"
	"testing"
	"time"

	bundlev1 "github.com/spiffe/spire-api-sdk/proto/spire/api/server/bundle/v1"
	localauthorityv1 "github.com/spiffe/spire-api-sdk/proto/spire/api/server/localauthority/v1"
	"github.com/spiffe/spire-api-sdk/proto/spire/api/types"

	"github.com/lanyard-dev/lanyard/internal/testca"
	syncv1 "github.com/lanyard-dev/lanyard/proto/lanyard/agent/v1"
	"github.com/lanyard-dev/lanyard/server/datastore/postgres/pgtest"
)

// twoServersOnOnePostgres starts two servers of testTD on one new PostgreSQL database.
func twoServersOnOnePostgres(t *testing.T) (a, b *testServer) {
	url := pgtest.Start(t).NewDatabase(t)
	ds := fmt.Sprintf("datastore:\n  type: postgres\n  connection_string: %q\n  max_open_conns: 4\n", url)
	a = startServer(t, newConfigFor(t, testTD.Name(), ds))
	b = startServer(t, newConfigFor(t, testTD.Name(), ds))
	return a, b
}

// recvUntil receives pushes until one satisfies ok; it fails the test when the stream
// ends first (its context carries the deadline).
func recvUntil(t *testing.T, stream syncv1.EntrySync_WatchClient, what string, ok func(*syncv1.WatchResponse) bool) {
	t.Helper()
	for {
		m, err := stream.Recv()
		if err != nil {
			t.Fatalf("waiting for %s: %v", what, err)
		}
		if ok(m) {
			return
		}
	}
}

func partnerBundle(t *testing.T, seq uint64) *types.Bundle {
	cert, _ := testca.New(t, "partner.org", nil, nil, time.Now().Add(time.Hour))
	return &types.Bundle{TrustDomain: "partner.org", SequenceNumber: seq, X509Authorities: []*types.X509Certificate{{Asn1: cert.Raw}}}
}

// A bundle written through one server reaches the agents of another server sharing the
// datastore, although the second server learns of it only from the datastore.
func TestBundleChangesMadeThroughAnotherServerReachThisServersAgents(t *testing.T) {
	a, b := twoServersOnOnePostgres(t)
	agent, agentID := b.attestedAgent()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	stream := openWatch(t, ctx, agent)

	t.Run("a federated bundle set and then replaced on the other server", func(t *testing.T) {
		if _, err := bundlev1.NewBundleClient(a.admin).BatchSetFederatedBundle(ctx, &bundlev1.BatchSetFederatedBundleRequest{
			Bundle: []*types.Bundle{partnerBundle(t, 1)}}); err != nil {
			t.Fatal(err)
		}
		e := entry("/federated", agentID, "unix:uid:1000")
		e.FederatesWith = []string{"partner.org"}
		if r := a.createEntries(e); r[0].Status.Code != 0 {
			t.Fatalf("creating the entry: %v", r[0].Status)
		}
		recvUntil(t, stream, "partner.org's bundle at sequence 1", func(m *syncv1.WatchResponse) bool {
			return m.FederatedBundlesSet && len(m.FederatedBundles) == 1 && m.FederatedBundles[0].SequenceNumber == 1
		})
		if _, err := bundlev1.NewBundleClient(a.admin).BatchSetFederatedBundle(ctx, &bundlev1.BatchSetFederatedBundleRequest{
			Bundle: []*types.Bundle{partnerBundle(t, 2)}}); err != nil {
			t.Fatal(err)
		}
		recvUntil(t, stream, "partner.org's bundle at sequence 2", func(m *syncv1.WatchResponse) bool {
			return m.FederatedBundlesSet && len(m.FederatedBundles) == 1 && m.FederatedBundles[0].SequenceNumber == 2
		})
	})
	t.Run("a CA prepared on the other server", func(t *testing.T) {
		before := len(b.bundle().X509Authorities())
		if _, err := localauthorityv1.NewLocalAuthorityClient(a.admin).PrepareX509Authority(ctx, &localauthorityv1.PrepareX509AuthorityRequest{}); err != nil {
			t.Fatal(err)
		}
		recvUntil(t, stream, "the own bundle with the prepared CA", func(m *syncv1.WatchResponse) bool {
			return m.Bundle != nil && len(m.Bundle.X509Authorities) > before
		})
	})
}
