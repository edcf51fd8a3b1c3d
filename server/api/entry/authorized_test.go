package entry_test

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"testing"

	"github.com/spiffe/go-spiffe/v2/spiffeid"

	agentv1 "github.com/spiffe/spire-api-sdk/proto/spire/api/server/agent/v1"
	entryv1 "github.com/spiffe/spire-api-sdk/proto/spire/api/server/entry/v1"
	"github.com/spiffe/spire-api-sdk/proto/spire/api/types"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/lanyard-dev/lanyard/internal/spireid"
	"github.com/lanyard-dev/lanyard/server/servertest"
)

func paths(entries []*types.Entry) []string {
	var out []string
	for _, e := range entries {
		out = append(out, e.SpiffeId.GetPath())
	}
	slices.Sort(out)
	return out
}

func TestAnAgentIsAuthorizedForItsEntriesAliasesAndDescendants(t *testing.T) {
	s := servertest.Start(t)
	agent := s.AttestAgent()
	stranger := s.AttestAgent()

	// A join token with agent_id registers a node alias: the agent it attests holds that ID too.
	tok, err := agentv1.NewAgentClient(s.Admin).CreateJoinToken(t.Context(), &agentv1.CreateJoinTokenRequest{
		Ttl: 600, AgentId: &types.SPIFFEID{TrustDomain: "example.org", Path: "/nodes/web"}})
	if err != nil {
		t.Fatal(err)
	}
	aliased, err := s.AttestWithToken(tok.Value)
	if err != nil {
		t.Fatal(err)
	}
	direct := s.Entry("/direct", agent.ID, "unix:uid:1")
	direct.Hint = "mine"
	s.CreateEntries(
		direct,
		s.Entry("/child", spiffeid.RequireFromPath(s.TrustDomain, "/direct"), "unix:uid:2"), // parented to a workload the agent holds
		s.Entry("/via-alias", spiffeid.RequireFromPath(s.TrustDomain, "/nodes/web"), "unix:uid:3"),
		s.Entry("/other", stranger.ID, "unix:uid:4"),
	)

	for _, tt := range []struct {
		name  string
		agent *servertest.Peer
		want  []string
	}{
		{"the agent gets its own entry and the one below it", agent, []string{"/child", "/direct"}},
		{"an aliased agent gets the alias's entries", aliased, []string{"/nodes/web", "/via-alias"}},
		{"another agent gets only its own", stranger, []string{"/other"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := entryv1.NewEntryClient(tt.agent.Conn).GetAuthorizedEntries(t.Context(), &entryv1.GetAuthorizedEntriesRequest{})
			if err != nil {
				t.Fatal(err)
			}
			if got := paths(resp.Entries); !slices.Equal(got, tt.want) {
				t.Fatalf("authorized %v, want %v", got, tt.want)
			}
		})
	}
	resp, err := entryv1.NewEntryClient(agent.Conn).GetAuthorizedEntries(t.Context(), &entryv1.GetAuthorizedEntriesRequest{OutputMask: &types.EntryMask{Hint: true}})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range resp.Entries {
		if e.Id == "" || e.SpiffeId != nil {
			t.Fatalf("entry with mask hint: %v; want id and hint only", e)
		}
	}
}

func TestOnlyAgentsAskForAuthorizedEntries(t *testing.T) {
	s := servertest.Start(t)
	for name, conn := range map[string]*grpc.ClientConn{
		"the admin socket":      s.Admin,
		"an admin SVID":         s.AdminPeer("/ops").Conn,
		"a caller without SVID": s.Dial(nil, nil),
	} {
		c := entryv1.NewEntryClient(conn)
		if _, err := c.GetAuthorizedEntries(t.Context(), &entryv1.GetAuthorizedEntriesRequest{}); status.Code(err) != codes.PermissionDenied {
			t.Errorf("GetAuthorizedEntries from %s: %v; want PermissionDenied", name, err)
		}
		stream, err := c.SyncAuthorizedEntries(t.Context())
		if err == nil {
			_ = stream.Send(&entryv1.SyncAuthorizedEntriesRequest{})
			_, err = stream.Recv()
		}
		if status.Code(err) != codes.PermissionDenied {
			t.Errorf("SyncAuthorizedEntries from %s: %v; want PermissionDenied", name, err)
		}
	}
	// And agents may not administer entries.
	agent := s.AttestAgent()
	if _, err := entryv1.NewEntryClient(agent.Conn).ListEntries(t.Context(), &entryv1.ListEntriesRequest{}); status.Code(err) != codes.PermissionDenied {
		t.Errorf("ListEntries from an agent: %v; want PermissionDenied", err)
	}
}

func TestSyncAuthorizedEntriesSendsASmallSetWhole(t *testing.T) {
	s := servertest.Start(t)
	agent := s.AttestAgent()
	s.CreateEntries(s.Entry("/a", agent.ID, "unix:uid:1"), s.Entry("/b", agent.ID, "unix:uid:2"))
	stream, err := entryv1.NewEntryClient(agent.Conn).SyncAuthorizedEntries(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&entryv1.SyncAuthorizedEntriesRequest{OutputMask: &types.EntryMask{SpiffeId: true}}); err != nil {
		t.Fatal(err)
	}
	resp, err := stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	if got := paths(resp.Entries); !slices.Equal(got, []string{"/a", "/b"}) || resp.More || len(resp.EntryRevisions) != 0 {
		t.Fatalf("sync sent %v (more %v, %d revisions); want both entries at once", got, resp.More, len(resp.EntryRevisions))
	}
	if _, err := stream.Recv(); !errors.Is(err, io.EOF) {
		t.Fatalf("after the whole set: %v; want the stream to end", err)
	}
}

// SPIRE agents sync large sets as revisions first, then ask for the entries they lack.
func TestSyncAuthorizedEntriesPagesALargeSetAsRevisions(t *testing.T) {
	s := servertest.Start(t)
	agent := s.AttestAgent()
	const n = 1001
	entries := make([]*types.Entry, n)
	for i := range entries {
		entries[i] = s.Entry(fmt.Sprintf("/w%d", i), agent.ID, fmt.Sprintf("unix:uid:%d", i))
	}
	created := s.CreateEntries(entries...)

	stream, err := entryv1.NewEntryClient(agent.Conn).SyncAuthorizedEntries(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&entryv1.SyncAuthorizedEntriesRequest{}); err != nil {
		t.Fatal(err)
	}
	revisions := map[string]int64{}
	for more := true; more; {
		resp, err := stream.Recv()
		if err != nil {
			t.Fatal(err)
		}
		if len(resp.Entries) != 0 {
			t.Fatalf("a large set sent %d entries before the agent asked", len(resp.Entries))
		}
		for _, r := range resp.EntryRevisions {
			revisions[r.Id] = r.RevisionNumber
		}
		more = resp.More
	}
	if len(revisions) != n {
		t.Fatalf("%d revisions for %d entries", len(revisions), n)
	}
	// Ask for two known entries and one unknown: the unknown one is left out.
	want := []string{created[0].Id, created[n-1].Id}
	if err := stream.Send(&entryv1.SyncAuthorizedEntriesRequest{Ids: append(want, "no-such-entry")}); err != nil {
		t.Fatal(err)
	}
	resp, err := stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range resp.Entries {
		got = append(got, e.Id)
	}
	if !slices.Equal(got, want) || resp.More {
		t.Fatalf("asked for %v, got %v (more %v)", want, got, resp.More)
	}
	if err := stream.Send(&entryv1.SyncAuthorizedEntriesRequest{}); err != nil {
		t.Fatal(err)
	}
	if resp, err := stream.Recv(); err != nil || len(resp.Entries) != 0 {
		t.Fatalf("an empty request: %v %v; want an empty answer", resp, err)
	}
	if err := stream.CloseSend(); err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Recv(); !errors.Is(err, io.EOF) {
		t.Fatalf("after the agent closed its side: %v; want the stream to end", err)
	}
}

// Entry writes reach the agents' view at once: the write refreshes the cache, so an agent
// asking right after sees the change without waiting for a poll.
func TestEntryWritesReachAgentsAtOnce(t *testing.T) {
	s := servertest.Start(t)
	a, b := s.AttestAgent(), s.AttestAgent()
	authorized := func(p *servertest.Peer) []string {
		t.Helper()
		resp, err := entryv1.NewEntryClient(p.Conn).GetAuthorizedEntries(t.Context(), &entryv1.GetAuthorizedEntriesRequest{})
		if err != nil {
			t.Fatal(err)
		}
		return paths(resp.Entries)
	}
	e := s.CreateEntries(s.Entry("/moving", a.ID, "unix:uid:1"))[0]
	if got := authorized(a); !slices.Equal(got, []string{"/moving"}) {
		t.Fatalf("after create, agent a has %v", got)
	}
	e.ParentId = spireid.ToProto(b.ID)
	upd, err := entryv1.NewEntryClient(s.Admin).BatchUpdateEntry(t.Context(), &entryv1.BatchUpdateEntryRequest{
		Entries: []*types.Entry{e}, InputMask: &types.EntryMask{ParentId: true}})
	if err != nil || upd.Results[0].Status.Code != 0 {
		t.Fatalf("moving the entry to agent b: %v %v", upd, err)
	}
	if ga, gb := authorized(a), authorized(b); len(ga) != 0 || !slices.Equal(gb, []string{"/moving"}) {
		t.Fatalf("after update, a has %v and b has %v; want it moved to b", ga, gb)
	}
	if _, err := entryv1.NewEntryClient(s.Admin).BatchDeleteEntry(t.Context(), &entryv1.BatchDeleteEntryRequest{Ids: []string{e.Id}}); err != nil {
		t.Fatal(err)
	}
	if got := authorized(b); len(got) != 0 {
		t.Fatalf("after delete, agent b has %v", got)
	}
}
