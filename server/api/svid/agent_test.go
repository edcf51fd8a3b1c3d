package svid_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/svid/x509svid"
	svidv1 "github.com/spiffe/spire-api-sdk/proto/spire/api/server/svid/v1"
	"github.com/spiffe/spire-api-sdk/proto/spire/api/types"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/lanyard-dev/lanyard/server/servertest"
)

func code(s *types.Status) codes.Code { return codes.Code(s.GetCode()) }

func TestAnAgentGetsX509SVIDsForItsAuthorizedEntriesOnly(t *testing.T) {
	s := servertest.Start(t)
	agent, stranger := s.AttestAgent(), s.AttestAgent()
	mine := s.Entry("/web", agent.ID, "unix:uid:33")
	mine.Hint, mine.DnsNames, mine.X509SvidTtl = "web", []string{"web.example.org"}, 600
	short := s.Entry("/short", agent.ID, "unix:uid:34")
	short.ExpiresAt = s.Clock.Now().Add(5 * time.Minute).Unix()
	created := s.CreateEntries(mine, short, s.Entry("/theirs", stranger.ID, "unix:uid:35"))

	resp, err := svidv1.NewSVIDClient(agent.Conn).BatchNewX509SVID(t.Context(), &svidv1.BatchNewX509SVIDRequest{Params: []*svidv1.NewX509SVIDParams{
		{EntryId: created[0].Id, Csr: csrFor(t, "spiffe://example.org/web")},
		{EntryId: created[1].Id, Csr: csrFor(t, "spiffe://example.org/short")},
		{EntryId: created[2].Id, Csr: csrFor(t, "spiffe://example.org/theirs")},
		{EntryId: "no-such-entry", Csr: csrFor(t, "spiffe://example.org/web")},
		{Csr: csrFor(t, "spiffe://example.org/web")},
		{EntryId: created[0].Id, Csr: csrFor(t, "spiffe://example.org/not-web")},
		{EntryId: created[0].Id, Csr: []byte("not a CSR")},
	}})
	if err != nil {
		t.Fatal(err)
	}
	r := resp.Results
	if code(r[0].Status) != codes.OK {
		t.Fatalf("authorized entry: %v", r[0].Status)
	}
	chain, err := servertest.ParseChain(r[0].Svid.CertChain)
	if err != nil {
		t.Fatal(err)
	}
	id, _, err := x509svid.Verify(chain, s.Bundle(), x509svid.WithTime(s.Clock.Now()))
	if err != nil || id.Path() != "/web" || r[0].Svid.Hint != "web" || chain[0].DNSNames[0] != "web.example.org" || chain[0].NotAfter.Sub(s.Clock.Now()) != 10*time.Minute {
		t.Fatalf("SVID for /web: %v %v (hint %q, DNS %v, expires %s); want the entry's ID, hint, DNS name and ttl", id, err, r[0].Svid.Hint, chain[0].DNSNames, chain[0].NotAfter)
	}
	if code(r[1].Status) != codes.OK || r[1].Svid.ExpiresAt != short.ExpiresAt {
		t.Fatalf("entry expiring in 5m: %v; want the SVID to expire with the entry", r[1])
	}
	for i, want := range map[int]codes.Code{2: codes.NotFound, 3: codes.NotFound, 4: codes.InvalidArgument, 5: codes.InvalidArgument, 6: codes.InvalidArgument} {
		if code(r[i].Status) != want || r[i].Svid != nil {
			t.Errorf("item %d: %v; want %s and no SVID", i, r[i].Status, want)
		}
	}
}

func TestBatchNewX509SVIDTakesAtMost500CSRs(t *testing.T) {
	s := servertest.Start(t)
	agent := s.AttestAgent()
	const n = 40 // enough to spread over several signing goroutines
	entries := make([]*types.Entry, n)
	for i := range entries {
		entries[i] = s.Entry(fmt.Sprintf("/w%d", i), agent.ID, fmt.Sprintf("unix:uid:%d", i))
	}
	created := s.CreateEntries(entries...)
	params := make([]*svidv1.NewX509SVIDParams, n)
	for i, e := range created {
		params[i] = &svidv1.NewX509SVIDParams{EntryId: e.Id, Csr: csrFor(t, fmt.Sprintf("spiffe://example.org/w%d", i))}
	}
	c := svidv1.NewSVIDClient(agent.Conn)
	resp, err := c.BatchNewX509SVID(t.Context(), &svidv1.BatchNewX509SVIDRequest{Params: params})
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range resp.Results {
		if code(r.Status) != codes.OK || r.Svid.Id.Path != fmt.Sprintf("/w%d", i) {
			t.Fatalf("result %d: %v; want the SVID of entry %d in request order", i, r, i)
		}
	}
	big := make([]*svidv1.NewX509SVIDParams, 501)
	for i := range big {
		big[i] = params[0]
	}
	if _, err := c.BatchNewX509SVID(t.Context(), &svidv1.BatchNewX509SVIDRequest{Params: big}); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("501 CSRs: %v; want InvalidArgument", err)
	}
	if _, err := c.BatchNewX509SVID(t.Context(), &svidv1.BatchNewX509SVIDRequest{Params: big[:500]}); err != nil {
		t.Fatalf("500 CSRs: %v", err)
	}
}

func TestAnAgentGetsJWTSVIDsForItsAuthorizedEntriesOnly(t *testing.T) {
	s := servertest.Start(t)
	agent, stranger := s.AttestAgent(), s.AttestAgent()
	mine := s.Entry("/web", agent.ID, "unix:uid:33")
	mine.Hint, mine.JwtSvidTtl = "web", 30
	created := s.CreateEntries(mine, s.Entry("/theirs", stranger.ID, "unix:uid:35"))
	c := svidv1.NewSVIDClient(agent.Conn)
	resp, err := c.NewJWTSVID(t.Context(), &svidv1.NewJWTSVIDRequest{EntryId: created[0].Id, Audience: []string{"orders"}})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Svid.Id.Path != "/web" || resp.Svid.Hint != "web" || resp.Svid.ExpiresAt != s.Clock.Now().Add(30*time.Second).Unix() {
		t.Fatalf("JWT-SVID %v: want the entry's ID, hint and jwt_svid_ttl", resp.Svid)
	}
	for name, tt := range map[string]struct {
		req  *svidv1.NewJWTSVIDRequest
		want codes.Code
	}{
		"another agent's entry": {&svidv1.NewJWTSVIDRequest{EntryId: created[1].Id, Audience: []string{"a"}}, codes.NotFound},
		"no entry id":           {&svidv1.NewJWTSVIDRequest{Audience: []string{"a"}}, codes.InvalidArgument},
		"no audience":           {&svidv1.NewJWTSVIDRequest{EntryId: created[0].Id}, codes.InvalidArgument},
	} {
		if _, err := c.NewJWTSVID(t.Context(), tt.req); status.Code(err) != tt.want {
			t.Errorf("%s: %v; want %s", name, err, tt.want)
		}
	}
}

func TestOnlyAgentsGetEntrySVIDs(t *testing.T) {
	s := servertest.Start(t)
	agent := s.AttestAgent()
	entry := s.CreateEntries(s.Entry("/web", agent.ID, "unix:uid:33"))[0]
	for name, conn := range map[string]*grpc.ClientConn{
		"the admin socket":      s.Admin,
		"an admin SVID":         s.AdminPeer("/ops").Conn,
		"a caller without SVID": s.Dial(nil, nil),
	} {
		c := svidv1.NewSVIDClient(conn)
		_, err := c.BatchNewX509SVID(t.Context(), &svidv1.BatchNewX509SVIDRequest{Params: []*svidv1.NewX509SVIDParams{{EntryId: entry.Id, Csr: csrFor(t, "spiffe://example.org/web")}}})
		if status.Code(err) != codes.PermissionDenied {
			t.Errorf("BatchNewX509SVID from %s: %v; want PermissionDenied", name, err)
		}
		_, err = c.NewJWTSVID(t.Context(), &svidv1.NewJWTSVIDRequest{EntryId: entry.Id, Audience: []string{"a"}})
		if status.Code(err) != codes.PermissionDenied {
			t.Errorf("NewJWTSVID from %s: %v; want PermissionDenied", name, err)
		}
	}
	// Lanyard registers no downstream servers: nobody gets a downstream CA.
	for name, conn := range map[string]*grpc.ClientConn{"the admin socket": s.Admin, "an agent": agent.Conn} {
		_, err := svidv1.NewSVIDClient(conn).NewDownstreamX509CA(t.Context(), &svidv1.NewDownstreamX509CARequest{Csr: csrFor(t, "")})
		if status.Code(err) != codes.PermissionDenied {
			t.Errorf("NewDownstreamX509CA from %s: %v; want PermissionDenied", name, err)
		}
	}
}

func TestAnExpiredAdminSVIDIsRefused(t *testing.T) {
	s := servertest.Start(t)
	admin := s.AdminPeer("/ops")
	c := svidv1.NewSVIDClient(admin.Conn)
	if _, err := c.MintX509SVID(t.Context(), &svidv1.MintX509SVIDRequest{Csr: csrFor(t, "spiffe://example.org/db")}); err != nil {
		t.Fatalf("admin SVID before it expires: %v", err)
	}
	s.Clock.Step(time.Hour) // the admin SVID's default TTL
	if _, err := c.MintX509SVID(t.Context(), &svidv1.MintX509SVIDRequest{Csr: csrFor(t, "spiffe://example.org/db")}); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("admin SVID at its expiry: %v; want Unauthenticated", err)
	}
}

func TestAnExpiredEntryGetsNoMoreSVIDs(t *testing.T) {
	s := servertest.Start(t)
	agent := s.AttestAgent()
	e := s.Entry("/short", agent.ID, "unix:uid:1")
	e.ExpiresAt = s.Clock.Now().Add(5 * time.Minute).Unix()
	entry := s.CreateEntries(e)[0]
	c := svidv1.NewSVIDClient(agent.Conn)
	s.Clock.Step(5 * time.Minute) // the very second it expires
	resp, err := c.BatchNewX509SVID(t.Context(), &svidv1.BatchNewX509SVIDRequest{Params: []*svidv1.NewX509SVIDParams{{EntryId: entry.Id, Csr: csrFor(t, "spiffe://example.org/short")}}})
	if err != nil || code(resp.Results[0].Status) != codes.NotFound {
		t.Fatalf("X.509-SVID for an expired entry: %v %v; want NotFound", resp, err)
	}
	if _, err := c.NewJWTSVID(t.Context(), &svidv1.NewJWTSVIDRequest{EntryId: entry.Id, Audience: []string{"a"}}); status.Code(err) != codes.NotFound {
		t.Fatalf("JWT-SVID for an expired entry: %v; want NotFound", err)
	}
}
