package agent_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	agentv1 "github.com/spiffe/spire-api-sdk/proto/spire/api/server/agent/v1"
	"github.com/spiffe/spire-api-sdk/proto/spire/api/types"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/lanyard-dev/lanyard/server/servertest"
)

func TestListAndCountAgentsFilterAndPage(t *testing.T) {
	s := servertest.Start(t)
	admin := agentv1.NewAgentClient(s.Admin)
	early := s.AttestAgent()
	s.Clock.Step(10 * time.Minute)
	late := s.AttestAgent()
	banned := s.AttestAgent()
	if _, err := admin.BanAgent(t.Context(), &agentv1.BanAgentRequest{Id: &types.SPIFFEID{TrustDomain: "example.org", Path: banned.ID.Path()}}); err != nil {
		t.Fatal(err)
	}
	// Agents whose SVIDs expire before 55 minutes from now: only the one attested first.
	before := s.Clock.Now().Add(55 * time.Minute).UTC().Format(time.RFC3339)

	for _, tt := range []struct {
		name   string
		filter *agentv1.ListAgentsRequest_Filter
		want   []string
	}{
		{"no filter", nil, []string{early.ID.Path(), late.ID.Path(), banned.ID.Path()}},
		{"banned", &agentv1.ListAgentsRequest_Filter{ByBanned: wrapperspb.Bool(true)}, []string{banned.ID.Path()}},
		{"not banned", &agentv1.ListAgentsRequest_Filter{ByBanned: wrapperspb.Bool(false)}, []string{early.ID.Path(), late.ID.Path()}},
		{"attestation type", &agentv1.ListAgentsRequest_Filter{ByAttestationType: "join_token"}, []string{early.ID.Path(), late.ID.Path(), banned.ID.Path()}},
		{"another attestation type", &agentv1.ListAgentsRequest_Filter{ByAttestationType: "k8s_psat"}, nil},
		{"can reattest", &agentv1.ListAgentsRequest_Filter{ByCanReattest: wrapperspb.Bool(true)}, nil},
		{"expires before", &agentv1.ListAgentsRequest_Filter{ByExpiresBefore: before}, []string{early.ID.Path()}},
		{"selector", &agentv1.ListAgentsRequest_Filter{BySelectorMatch: &types.SelectorMatch{
			Selectors: []*types.Selector{{Type: "spiffe_id", Value: late.ID.String()}}, Match: types.SelectorMatch_MATCH_SUPERSET}}, []string{late.ID.Path()}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			token := ""
			for i := 0; ; i++ {
				resp, err := admin.ListAgents(t.Context(), &agentv1.ListAgentsRequest{Filter: tt.filter, PageSize: 2, PageToken: token})
				if err != nil {
					t.Fatal(err)
				}
				for _, a := range resp.Agents {
					got = append(got, a.Id.Path)
				}
				if token = resp.NextPageToken; token == "" || i > 5 {
					break
				}
			}
			slices.Sort(got)
			want := slices.Sorted(slices.Values(tt.want))
			if !slices.Equal(got, want) {
				t.Fatalf("listed %v, want %v", got, want)
			}
			f := tt.filter
			n, err := admin.CountAgents(t.Context(), &agentv1.CountAgentsRequest{Filter: &agentv1.CountAgentsRequest_Filter{
				ByAttestationType: f.GetByAttestationType(), BySelectorMatch: f.GetBySelectorMatch(), ByBanned: f.GetByBanned(),
				ByCanReattest: f.GetByCanReattest(), ByExpiresBefore: f.GetByExpiresBefore()}})
			if err != nil || int(n.Count) != len(want) {
				t.Fatalf("counted %v %v, want %d", n, err, len(want))
			}
		})
	}
	resp, err := admin.ListAgents(t.Context(), &agentv1.ListAgentsRequest{OutputMask: &types.AgentMask{Banned: true}})
	if err != nil || len(resp.Agents) != 3 || resp.Agents[0].AttestationType != "" || resp.Agents[0].Id == nil {
		t.Fatalf("list with mask banned: %v %v; want ids and the banned flag only", resp, err)
	}
	for name, req := range map[string]*agentv1.ListAgentsRequest{
		"a negative page size":       {PageSize: -1},
		"a page token never given":   {PageSize: 1, PageToken: "\x00"},
		"an unknown selector match":  {Filter: &agentv1.ListAgentsRequest_Filter{BySelectorMatch: &types.SelectorMatch{Selectors: []*types.Selector{{Type: "a", Value: "b"}}, Match: 9}}},
		"a selector without a value": {Filter: &agentv1.ListAgentsRequest_Filter{BySelectorMatch: &types.SelectorMatch{Selectors: []*types.Selector{{Type: "a"}}}}},
		"an expiry that is no time":  {Filter: &agentv1.ListAgentsRequest_Filter{ByExpiresBefore: "soon"}},
	} {
		if _, err := admin.ListAgents(t.Context(), req); status.Code(err) != codes.InvalidArgument {
			t.Errorf("%s: %v; want InvalidArgument", name, err)
		}
	}
	if _, err := agentv1.NewAgentClient(early.Conn).ListAgents(t.Context(), &agentv1.ListAgentsRequest{}); status.Code(err) != codes.PermissionDenied {
		t.Errorf("ListAgents from an agent: %v; want PermissionDenied", err)
	}
}

func TestCreateJoinToken(t *testing.T) {
	s := servertest.Start(t)
	admin := agentv1.NewAgentClient(s.Admin)
	tok, err := admin.CreateJoinToken(t.Context(), &agentv1.CreateJoinTokenRequest{Ttl: 600})
	if err != nil {
		t.Fatal(err)
	}
	if len(tok.Value) != 36 || strings.Count(tok.Value, "-") != 4 || tok.ExpiresAt != s.Clock.Now().Add(10*time.Minute).Unix() {
		t.Fatalf("token %v: want a UUID-shaped value expiring in ttl seconds", tok)
	}
	chosen, err := admin.CreateJoinToken(t.Context(), &agentv1.CreateJoinTokenRequest{Ttl: 60, Token: "my-node_1.a"})
	if err != nil || chosen.Value != "my-node_1.a" {
		t.Fatalf("token with a chosen value: %v %v", chosen, err)
	}
	if _, err := s.AttestWithToken("my-node_1.a"); err != nil {
		t.Fatalf("attesting with the chosen token: %v", err)
	}
	for name, tt := range map[string]struct {
		req  *agentv1.CreateJoinTokenRequest
		want codes.Code
	}{
		"no ttl":                      {&agentv1.CreateJoinTokenRequest{}, codes.InvalidArgument},
		"a ttl over the maximum":      {&agentv1.CreateJoinTokenRequest{Ttl: 1 << 30}, codes.InvalidArgument},
		"a token with a slash":        {&agentv1.CreateJoinTokenRequest{Ttl: 60, Token: "a/b"}, codes.InvalidArgument},
		"an agent_id elsewhere":       {&agentv1.CreateJoinTokenRequest{Ttl: 60, AgentId: &types.SPIFFEID{TrustDomain: "other.org", Path: "/n"}}, codes.InvalidArgument},
		"a malformed agent_id":        {&agentv1.CreateJoinTokenRequest{Ttl: 60, AgentId: &types.SPIFFEID{TrustDomain: "example.org", Path: "n"}}, codes.InvalidArgument},
		"a token that already exists": {&agentv1.CreateJoinTokenRequest{Ttl: 60, Token: tok.Value}, codes.AlreadyExists},
	} {
		if _, err := admin.CreateJoinToken(t.Context(), tt.req); status.Code(err) != tt.want {
			t.Errorf("%s: %v; want %s", name, err, tt.want)
		}
	}
}
