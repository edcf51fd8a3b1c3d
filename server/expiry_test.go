package server

import (
	"context"
	"crypto/x509"
	"strings"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	agentv1 "github.com/spiffe/spire-api-sdk/proto/spire/api/server/agent/v1"
	entryv1 "github.com/spiffe/spire-api-sdk/proto/spire/api/server/entry/v1"
	svidv1 "github.com/spiffe/spire-api-sdk/proto/spire/api/server/svid/v1"
	"github.com/spiffe/spire-api-sdk/proto/spire/api/types"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/lanyard-dev/lanyard/agent/attest"
	"github.com/lanyard-dev/lanyard/agent/client"
	"github.com/lanyard-dev/lanyard/internal/poll"
)

// startWithClock starts a server whose expiry checks and timers run on a fake clock.
func startWithClock(t *testing.T) (*testServer, *clocktesting.FakeClock) {
	t.Helper()
	clk := clocktesting.NewFakeClock(time.Now())
	cfg := newConfig(t)
	cfg.Clock = clk
	return startServer(t, cfg), clk
}

// mintedClient mints an X.509-SVID for path over the admin socket and returns a client
// presenting it, and its leaf.
func (ts *testServer) mintedClient(ctx context.Context, path string, ttl int32) (*client.Client, *x509.Certificate) {
	ts.t.Helper()
	key, csr, err := attest.NewKeyAndCSR(spiffeid.RequireFromPath(testTD, path))
	if err != nil {
		ts.t.Fatal(err)
	}
	minted, err := svidv1.NewSVIDClient(ts.admin).MintX509SVID(ctx, &svidv1.MintX509SVIDRequest{Csr: csr, Ttl: ttl})
	if err != nil {
		ts.t.Fatal(err)
	}
	var chain []*x509.Certificate
	for _, der := range minted.Svid.CertChain {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			ts.t.Fatal(err)
		}
		chain = append(chain, c)
	}
	return ts.dialAs(chain, key), chain[0]
}

// mintOne asks for one X.509-SVID for entryID as agent c.
func mintOne(ctx context.Context, t *testing.T, c *client.Client, entryID string) (*svidv1.BatchNewX509SVIDResponse_Result, error) {
	resp, err := c.SVID.BatchNewX509SVID(ctx, &svidv1.BatchNewX509SVIDRequest{
		Params: []*svidv1.NewX509SVIDParams{{EntryId: entryID, Csr: csrFor(t, "")}}})
	if err != nil {
		return nil, err
	}
	return resp.Results[0], nil
}

// wantExpired fails t unless err is PermissionDenied with SPIRE's AGENT_EXPIRED reason.
func wantExpired(t *testing.T, what string, err error) {
	t.Helper()
	st := status.Convert(err)
	if st.Code() != codes.PermissionDenied || !strings.Contains(st.Message(), "expired") {
		t.Fatalf("%s: %v; want PermissionDenied saying the agent SVID expired", what, err)
	}
	for _, d := range st.Details() {
		if pd, ok := d.(*types.PermissionDeniedDetails); ok && pd.Reason == types.PermissionDeniedDetails_AGENT_EXPIRED {
			return
		}
	}
	t.Fatalf("%s: %v carries no AGENT_EXPIRED reason", what, err)
}

// The TLS handshake checks the agent SVID's expiry once; a connection opened before it
// expired must not keep working after.
func TestExpiredAgentSVIDEndsCallsAndStreamsOnOpenConnections(t *testing.T) {
	ts, clk := startWithClock(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res := ts.attest()
	agent := ts.dialAs(res.Chain, res.Key)
	web := ts.createEntries(entry("/web", res.ID, "unix:uid:1000"))[0].Entry.Id
	mint := func() error {
		_, err := mintOne(ctx, t, agent, web)
		return err
	}
	stream := openWatch(t, ctx, agent)
	if err := mint(); err != nil {
		t.Fatalf("minting before expiry: %v", err)
	}

	clk.SetTime(res.Chain[0].NotAfter.Add(time.Second))
	var err error
	for err == nil {
		_, err = stream.Recv()
	}
	wantExpired(t, "the push stream at expiry", err)
	wantExpired(t, "minting on the open connection after expiry", mint())
	_, err = agent.Entry.GetAuthorizedEntries(ctx, &entryv1.GetAuthorizedEntriesRequest{})
	wantExpired(t, "listing authorized entries after expiry", err)
}

// An admin entry's expiry ends the admin rights it granted, and SVIDs never outlive the
// entry they were issued for.
func TestEntryExpiryEndsAdminRightsAndCapsSVIDs(t *testing.T) {
	ts, clk := startWithClock(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	agentRes := ts.attest()
	agent := ts.dialAs(agentRes.Chain, agentRes.Key)
	expiresAt := clk.Now().Add(10 * time.Minute).Unix()
	adminEntry := entry("/ops", agentRes.ID, "unix:uid:0")
	adminEntry.Admin, adminEntry.ExpiresAt, adminEntry.X509SvidTtl, adminEntry.JwtSvidTtl = true, expiresAt, 3600, 3600
	r := ts.createEntries(adminEntry)[0]
	if codes.Code(r.Status.Code) != codes.OK {
		t.Fatalf("creating the admin entry: %v", r.Status)
	}
	entryID := r.Entry.Id

	t.Run("SVIDs expire with the entry", func(t *testing.T) {
		r, err := mintOne(ctx, t, agent, entryID)
		if err != nil || r.Svid == nil {
			t.Fatalf("minting: %v %v", err, r)
		}
		leaf, err := x509.ParseCertificate(r.Svid.CertChain[0])
		if err != nil {
			t.Fatal(err)
		}
		if leaf.NotAfter.Unix() > expiresAt {
			t.Fatalf("X.509-SVID expires at %s, after its entry (%s)", leaf.NotAfter, time.Unix(expiresAt, 0))
		}
		jwt, err := agent.SVID.NewJWTSVID(ctx, &svidv1.NewJWTSVIDRequest{EntryId: entryID, Audience: []string{"db"}})
		if err != nil {
			t.Fatal(err)
		}
		if jwt.Svid.ExpiresAt > expiresAt {
			t.Fatalf("JWT-SVID expires at %d, after its entry (%d)", jwt.Svid.ExpiresAt, expiresAt)
		}
	})

	// An SVID for the admin ID that outlives the entry (minted by an administrator).
	admin, _ := ts.mintedClient(ctx, "/ops", 3600)
	listBoth := func() error {
		if _, err := admin.Entry.ListEntries(ctx, &entryv1.ListEntriesRequest{}); err != nil {
			return err
		}
		_, err := admin.Agent.ListAgents(ctx, &agentv1.ListAgentsRequest{})
		return err
	}
	if err := listBoth(); err != nil {
		t.Fatalf("admin calls before the entry expired: %v", err)
	}

	clk.SetTime(time.Unix(expiresAt+1, 0))
	if err := listBoth(); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("admin calls after the entry expired: %v; want PermissionDenied", err)
	}
	if r, err := mintOne(ctx, t, agent, entryID); err != nil || codes.Code(r.Status.Code) != codes.NotFound {
		t.Fatalf("minting for the expired entry: %v %v; want NotFound", err, r)
	}
	poll.Until(t, 10*time.Second, "housekeeping to prune the expired entry", func() bool {
		clk.Step(time.Minute)
		_, err := entryv1.NewEntryClient(ts.admin).GetEntry(ctx, &entryv1.GetEntryRequest{Id: entryID})
		return status.Code(err) == codes.NotFound
	})
}

// An admin X.509-SVID that expires while its connection is open stops working on it.
func TestExpiredAdminSVIDIsRefusedOnItsOpenConnection(t *testing.T) {
	ts, clk := startWithClock(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	parent := spiffeid.RequireFromPath(testTD, "/spire/agent/join_token/x")
	e := entry("/ops", parent, "unix:uid:0")
	e.Admin = true
	if r := ts.createEntries(e)[0]; codes.Code(r.Status.Code) != codes.OK {
		t.Fatalf("creating the admin entry: %v", r.Status)
	}
	admin, leaf := ts.mintedClient(ctx, "/ops", 60)
	if _, err := admin.Entry.ListEntries(ctx, &entryv1.ListEntriesRequest{}); err != nil {
		t.Fatalf("listing with a valid admin SVID: %v", err)
	}
	clk.SetTime(leaf.NotAfter.Add(time.Second))
	if _, err := admin.Entry.ListEntries(ctx, &entryv1.ListEntriesRequest{}); status.Code(err) != codes.Unauthenticated || !strings.Contains(err.Error(), "expired") {
		t.Fatalf("listing after the admin SVID expired: %v; want Unauthenticated, expired", err)
	}
}

// An agent that renewed but kept its connection made with the old SVID is told, when the
// old one expires, to reconnect with the new one: not that it must attest again, which
// would cost a join token agent its identity.
func TestRenewedAgentOnItsOldConnectionIsToldToReconnectAtExpiry(t *testing.T) {
	ts, clk := startWithClock(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res := ts.attest()
	old := ts.dialAs(res.Chain, res.Key)
	stream := openWatch(t, ctx, old)
	clk.Step(30 * time.Minute) // agents renew at half-life
	renewed, err := attest.Renew(ctx, old.Agent, res.ID)
	if err != nil {
		t.Fatal(err)
	}

	clk.SetTime(res.Chain[0].NotAfter)
	for err == nil {
		_, err = stream.Recv()
	}
	wantReconnect := func(what string, err error) {
		t.Helper()
		st := status.Convert(err)
		if st.Code() != codes.Unauthenticated || !strings.Contains(st.Message(), "renewed SVID") || len(st.Details()) != 0 {
			t.Fatalf("%s: %v (details %v); want Unauthenticated asking to present the renewed SVID, with no re-attest reason", what, err, st.Details())
		}
	}
	wantReconnect("the push stream on the old connection", err)
	_, err = old.Entry.GetAuthorizedEntries(ctx, &entryv1.GetAuthorizedEntriesRequest{})
	wantReconnect("a call on the old connection", err)
	if _, err := ts.dialAs(renewed.Chain, renewed.Key).Entry.GetAuthorizedEntries(ctx, &entryv1.GetAuthorizedEntriesRequest{}); err != nil {
		t.Fatalf("a new connection with the renewed SVID: %v", err)
	}
}
