package agent

import (
	"crypto/x509"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/bundle/jwtbundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/svid/jwtsvid"
	delegatedv1 "github.com/spiffe/spire-api-sdk/proto/spire/api/agent/delegatedidentity/v1"
	"github.com/spiffe/spire-api-sdk/proto/spire/api/types"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"

	"github.com/lanyard-dev/lanyard/agent/admin"
)

// TestDelegatedIdentityActsForWorkloads: the test process is the delegate (its uid's
// entry names spiffe://TD/delegate, one of authorized_delegates). Before it holds that
// SVID every method refuses it; then it follows a workload's SVIDs by selectors and by
// the PID of a real process of another uid, through rotation and entry changes, never
// seeing admin or downstream entries; gets JWT-SVIDs for several audiences and both
// bundle streams; and its streams end with PermissionDenied when its entry is removed.
func TestDelegatedIdentityActsForWorkloads(t *testing.T) {
	const uid = 1001
	e := newEnv(t)
	cfg, agentID := e.delegateCfg()
	e.entry("not-a-delegate", agentID, 0)
	e.createEntries(agentID,
		workloadEntry("web", uid),
		workloadEntry("web-admin", uid, func(en *types.Entry) { en.Admin = true }),
		workloadEntry("web-downstream", uid, func(en *types.Entry) { en.Downstream = true }),
		workloadEntry("other", uid+1))
	a := e.startAgent(cfg)
	a.servesID(t, "not-a-delegate")
	c, conn := delegatedClient(t, cfg.AdminSocketPath)
	refusedEverything(t, c)

	delegateEntry := e.entry("delegate", agentID, 0)
	a.servesID(t, "delegate")

	bySelectors := subscribe(t, c, &delegatedv1.SubscribeToX509SVIDsRequest{Selectors: []*types.Selector{{Type: "unix", Value: fmt.Sprintf("uid:%d", uid)}}})
	first := bySelectors.until(t, "web's SVID", func(m *delegatedv1.SubscribeToX509SVIDsResponse) bool { return names(m) == "/web" })
	before := serials(t, first)["/web"]

	proc := startAsUser(t, uid)
	byPID := subscribe(t, c, &delegatedv1.SubscribeToX509SVIDsRequest{Pid: int32(proc.Process.Pid)})
	byPID.until(t, "web's SVID for the PID", func(m *delegatedv1.SubscribeToX509SVIDsResponse) bool { return names(m) == "/web" })

	// Rotation: past half the SVID's hour the agent renews it, and both streams carry it.
	a.clock.Step(31 * time.Minute)
	rotated := func(m *delegatedv1.SubscribeToX509SVIDsResponse) bool {
		s := serials(t, m)["/web"]
		return s != "" && s != before
	}
	bySelectors.until(t, "web's rotated SVID", rotated)
	byPID.until(t, "web's rotated SVID for the PID", rotated)

	// A new entry for the workload joins the set.
	api := e.createEntries(agentID, workloadEntry("api", uid))
	bySelectors.until(t, "api's SVID", func(m *delegatedv1.SubscribeToX509SVIDsResponse) bool { return names(m) == "/api /web" })

	// JWT-SVIDs for several audiences, by selectors and by PID.
	for _, req := range []*delegatedv1.FetchJWTSVIDsRequest{
		{Audience: []string{"aud-1", "aud-2"}, Selectors: []*types.Selector{{Type: "unix", Value: fmt.Sprintf("uid:%d", uid)}}},
		{Audience: []string{"aud-1", "aud-2"}, Pid: int32(proc.Process.Pid)},
	} {
		resp, err := c.FetchJWTSVIDs(t.Context(), req)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, s := range resp.Svids {
			tok, err := jwtsvid.ParseInsecure(s.Token, []string{"aud-1", "aud-2"})
			if err != nil {
				t.Fatal(err)
			}
			if tok.ID.Path() != s.Id.Path || tok.Expiry.Unix() != s.ExpiresAt || s.IssuedAt == 0 || !slices.Equal(tok.Audience, []string{"aud-1", "aud-2"}) {
				t.Fatalf("JWT-SVID %s: claims %v, %v, audience %v do not match the response %v", s.Id.Path, tok.ID, tok.Expiry, tok.Audience, s)
			}
			got = append(got, s.Id.Path)
		}
		slices.Sort(got)
		if strings.Join(got, " ") != "/api /web" {
			t.Fatalf("JWT-SVIDs for %v: %v, want /api and /web (never the admin or downstream entries)", req, got)
		}
	}

	// Bundles: the agent's own, as DER and as a JWKS, keyed by the trust domain's ID.
	bundles, err := c.SubscribeToX509Bundles(t.Context(), &delegatedv1.SubscribeToX509BundlesRequest{})
	if err != nil {
		t.Fatal(err)
	}
	xb, err := bundles.Recv()
	if err != nil {
		t.Fatal(err)
	}
	if cas, err := x509.ParseCertificates(xb.CaCertificates["spiffe://"+testTD]); err != nil || len(cas) == 0 || len(xb.CaCertificates) != 1 {
		t.Fatalf("X.509 bundles: %d trust domains, %v", len(xb.CaCertificates), err)
	}
	jwtBundles, err := c.SubscribeToJWTBundles(t.Context(), &delegatedv1.SubscribeToJWTBundlesRequest{})
	if err != nil {
		t.Fatal(err)
	}
	jb, err := jwtBundles.Recv()
	if err != nil {
		t.Fatal(err)
	}
	if b, err := jwtbundle.Parse(spiffeid.RequireTrustDomainFromString(testTD), jb.Bundles["spiffe://"+testTD]); err != nil || len(b.JWTAuthorities()) == 0 {
		t.Fatalf("JWT bundle: %v", err)
	}

	// A removed entry leaves the set.
	e.deleteEntries(api...)
	bySelectors.until(t, "api's SVID gone", func(m *delegatedv1.SubscribeToX509SVIDsResponse) bool { return names(m) == "/web" })

	// The workload process exits: its PID stream ends.
	_ = proc.Process.Kill()
	wantCode(t, "the PID stream after the process exited", codes.NotFound, byPID.ended(t, func(*delegatedv1.SubscribeToX509SVIDsResponse) bool { return true }))

	// The delegate's entry is removed: its streams end, and it is refused from then on.
	e.deleteEntries(delegateEntry)
	any := func(*delegatedv1.SubscribeToX509SVIDsResponse) bool { return true }
	wantCode(t, "the selectors stream after the delegate's entry was removed", codes.PermissionDenied, bySelectors.ended(t, any))
	for _, recv := range []func() error{
		func() error { _, err := bundles.Recv(); return err },
		func() error { _, err := jwtBundles.Recv(); return err },
	} {
		var err error
		for err == nil {
			err = recv()
		}
		wantCode(t, "a bundle stream after the delegate's entry was removed", codes.PermissionDenied, err)
	}
	refusedEverything(t, c)
	conn.Close()
	e.shutdown(a)
}

// TestDelegatedIdentityDeliversTwelveThousandSVIDsInOneUpdate: a delegate following a
// workload of 12,000 identities gets all of them, intact, in one update: one message of
// far more than gRPC's default 4 MiB, which the server sends and a client with Cilium's
// 20 MiB receive limit takes (SPIRE's clients treat each message as the whole set). A
// client with the default limit, which that message would exceed, asks for pieces.
func TestDelegatedIdentityDeliversTwelveThousandSVIDsInOneUpdate(t *testing.T) {
	const n, uid = 12000, 1002
	e := newEnv(t)
	cfg, agentID := e.delegateCfg()
	e.entry("delegate", agentID, 0)
	a := e.startAgent(cfg)
	a.servesID(t, "delegate")
	c, conn := delegatedClient(t, cfg.AdminSocketPath)
	s := subscribe(t, c, &delegatedv1.SubscribeToX509SVIDsRequest{Selectors: []*types.Selector{{Type: "unix", Value: fmt.Sprintf("uid:%d", uid)}}})
	entries := make([]*types.Entry, n)
	for i := range entries {
		entries[i] = workloadEntry(fmt.Sprintf("w/%05d", i), uid)
	}
	e.createEntries(agentID, entries...)
	m := s.until(t, "all 12,000 SVIDs", func(m *delegatedv1.SubscribeToX509SVIDsResponse) bool { return len(m.X509Svids) == n })
	if got := serials(t, m); len(got) != n {
		t.Fatalf("%d distinct SPIFFE IDs in the update, want %d", len(got), n)
	}
	size := proto.Size(m)
	t.Logf("one update of %d SVIDs: %.1f MiB", n, float64(size)/(1<<20)) // a figure, not an assertion
	if size <= 4<<20 {
		t.Fatalf("the update is %d bytes: the test no longer crosses gRPC's default 4 MiB limit", size)
	}
	s.cancel()

	// A client keeping gRPC's default 4 MiB receive limit cannot take that message...
	plain, err := grpc.NewClient("unix://"+cfg.AdminSocketPath, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	pc := delegatedv1.NewDelegatedIdentityClient(plain)
	req := &delegatedv1.SubscribeToX509SVIDsRequest{Selectors: []*types.Selector{{Type: "unix", Value: fmt.Sprintf("uid:%d", uid)}}}
	whole := subscribe(t, pc, req)
	wantCode(t, "a whole update of 12,000 SVIDs to a client with the default limit", codes.ResourceExhausted,
		whole.ended(t, func(*delegatedv1.SubscribeToX509SVIDsResponse) bool { return true }))
	// ...but asking for pieces of at most 4 MiB it gets every SVID, and then the closing
	// message that ends the update.
	ctx := metadata.AppendToOutgoingContext(t.Context(), admin.PiecesHeader, strconv.Itoa(4<<20))
	stream, err := pc.SubscribeToX509SVIDs(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	var collected []*delegatedv1.X509SVIDWithKey
	msgs := 0
	for {
		m, err := stream.Recv()
		if err != nil {
			t.Fatalf("after %d pieces: %v", msgs, err)
		}
		msgs++
		if len(m.X509Svids) > 0 {
			collected = append(collected, m.X509Svids...)
			continue
		}
		if len(collected) == n {
			break
		}
		collected = nil // an earlier, partial update: the agent was still minting
	}
	if got := serials(t, &delegatedv1.SubscribeToX509SVIDsResponse{X509Svids: collected}); len(got) != n {
		t.Fatalf("%d distinct SPIFFE IDs collected from the pieces, want %d", len(got), n)
	}
	plain.Close()
	conn.Close()
	e.shutdown(a)
}

// TestDelegatedIdentityStopsAtExpiry: with the server gone nothing is renewed. When the
// workload's SVID expires the delegate is sent the set without it; when the delegate's
// own SVID expires its stream ends with PermissionDenied.
func TestDelegatedIdentityStopsAtExpiry(t *testing.T) {
	const uid = 1003
	e := newEnv(t)
	cfg, agentID := e.delegateCfg()
	e.entry("delegate", agentID, 3*time.Hour)
	e.createEntries(agentID, workloadEntry("web", uid))
	a := e.startAgent(cfg)
	a.servesID(t, "delegate")
	c, conn := delegatedClient(t, cfg.AdminSocketPath)
	s := subscribe(t, c, &delegatedv1.SubscribeToX509SVIDsRequest{Selectors: []*types.Selector{{Type: "unix", Value: fmt.Sprintf("uid:%d", uid)}}})
	s.until(t, "web's SVID", func(m *delegatedv1.SubscribeToX509SVIDsResponse) bool { return names(m) == "/web" })
	e.stopServer()

	a.clock.Step(61 * time.Minute) // past web's hour
	s.until(t, "an update without the expired SVID", func(m *delegatedv1.SubscribeToX509SVIDsResponse) bool { return len(m.X509Svids) == 0 })
	a.clock.Step(2 * time.Hour) // past the delegate's 3 hours
	wantCode(t, "the stream after the delegate's SVID expired", codes.PermissionDenied,
		s.ended(t, func(m *delegatedv1.SubscribeToX509SVIDsResponse) bool { return len(m.X509Svids) == 0 }))
	conn.Close()
	e.shutdown(a)
}
