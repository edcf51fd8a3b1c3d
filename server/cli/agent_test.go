package cli

import (
	"flag"
	"regexp"
	"sort"
	"strings"
	"testing"

	agentv1 "github.com/spiffe/spire-api-sdk/proto/spire/api/server/agent/v1"
	"github.com/spiffe/spire-api-sdk/proto/spire/api/types"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// seedAgents attests three agents with join tokens and bans the second; it returns their
// IDs in attestation order.
func seedAgents(h *harness) []*types.SPIFFEID {
	ids := []*types.SPIFFEID{h.attestAgent(), h.attestAgent(), h.attestAgent()}
	if _, err := h.api().agents.BanAgent(h.t.Context(), &agentv1.BanAgentRequest{Id: ids[1]}); err != nil {
		h.t.Fatal(err)
	}
	return ids
}

func (h *harness) storedAgents() []*types.Agent {
	h.t.Helper()
	resp, err := h.api().agents.ListAgents(h.t.Context(), &agentv1.ListAgentsRequest{})
	if err != nil {
		h.t.Fatal(err)
	}
	return resp.Agents
}

func TestAgentList(t *testing.T) {
	h := newHarness(t)
	ids := seedAgents(h)

	t.Run("prints every agent, sorted by SPIFFE ID", func(t *testing.T) {
		r := h.run("agent", "list").wantOK(t)
		if !strings.HasPrefix(r.stdout, "Found 3 attested agents\n") {
			t.Errorf("stdout:\n%s", r.stdout)
		}
		var sorted []string
		for _, id := range ids {
			sorted = append(sorted, idString(id))
		}
		sort.Strings(sorted)
		last := -1
		for _, id := range sorted {
			at := strings.Index(r.stdout, id+"\n")
			if at < last {
				t.Errorf("agents missing or unsorted:\n%s", r.stdout)
			}
			last = at
		}
		stored, err := h.api().agents.GetAgent(t.Context(), &agentv1.GetAgentRequest{Id: ids[0]})
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range []string{"Attestation type : join_token", "Expiration time  : " + unixTime(stored.X509SvidExpiresAt),
			"Serial number    : " + stored.X509SvidSerialNumber, "Banned           : true", "Banned           : false"} {
			if !strings.Contains(r.stdout, line+"\n") {
				t.Errorf("stdout lacks %q:\n%s", line, r.stdout)
			}
		}
	})
	t.Run("the server applies the filter", func(t *testing.T) {
		r := h.run("agent", "list", "-banned").wantOK(t)
		if !strings.HasPrefix(r.stdout, "Found 1 attested agent\n") || !strings.Contains(r.stdout, idString(ids[1])+"\n") {
			t.Errorf("agent list -banned:\n%s", r.stdout)
		}
	})
	t.Run("json output holds every agent", func(t *testing.T) {
		r := h.run("agent", "list", "-output", "json").wantOK(t)
		var resp agentv1.ListAgentsResponse
		if err := protojson.Unmarshal([]byte(r.stdout), &resp); err != nil || len(resp.Agents) != 3 {
			t.Errorf("json %q: %v", r.stdout, err)
		}
	})
}

func TestAgentFilterFlags(t *testing.T) {
	fs := flag.NewFlagSet("agent list", flag.ContinueOnError)
	var f agentFilterFlags
	f.register(fs)
	if err := fs.Parse([]string{"-selector", "k8s_psat:cluster:c1", "-matchSelectorsOn", "any", "-attestationType", "k8s_psat", "-banned",
		"-canReattest=false", "-expiresBefore", "2030-01-02 15:04:05 +0000 +00"}); err != nil {
		t.Fatal(err)
	}
	got, err := f.filter(fs)
	if err != nil {
		t.Fatal(err)
	}
	want := &agentv1.ListAgentsRequest_Filter{
		ByAttestationType: "k8s_psat",
		BySelectorMatch:   &types.SelectorMatch{Selectors: []*types.Selector{sel("k8s_psat", "cluster:c1")}, Match: types.SelectorMatch_MATCH_ANY},
		ByBanned:          wrapperspb.Bool(true),
		ByCanReattest:     wrapperspb.Bool(false),
		ByExpiresBefore:   "2030-01-02 15:04:05 +0000 +00",
	}
	if d := diffProto(want, got); d != "" {
		t.Error(d)
	}
}

func TestAgentByID(t *testing.T) {
	tests := []struct {
		name    string
		command string
		stdout  string
		check   func(t *testing.T, h *harness, id *types.SPIFFEID)
	}{
		{"show prints the agent", "show", "SPIFFE ID        : ", nil},
		{"evict deletes the agent", "evict", "Agent evicted successfully\n", func(t *testing.T, h *harness, _ *types.SPIFFEID) {
			if n := len(h.storedAgents()); n != 2 {
				t.Errorf("%d agents left, want 2", n)
			}
		}},
		{"ban marks the agent banned", "ban", "Agent banned successfully\n", func(t *testing.T, h *harness, id *types.SPIFFEID) {
			a, err := h.api().agents.GetAgent(t.Context(), &agentv1.GetAgentRequest{Id: id})
			if err != nil || !a.Banned {
				t.Errorf("agent %s is not banned (%v)", idString(id), err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			ids := seedAgents(h)
			r := h.run("agent", tt.command, "-spiffeID", idString(ids[0])).wantOK(t)
			if !strings.Contains(r.stdout, tt.stdout) {
				t.Errorf("stdout %q, want it to contain %q", r.stdout, tt.stdout)
			}
			if tt.check != nil {
				tt.check(t, h, ids[0])
			}
		})
		t.Run(tt.command+" of an unknown agent shows the server's status", func(t *testing.T) {
			h := newHarness(t)
			h.run("agent", tt.command, "-spiffeID", "spiffe://example.org/spire/agent/join_token/ghost").
				wantError(t, "agent "+tt.command+" spiffe://example.org/spire/agent/join_token/ghost: NotFound: ")
		})
	}
}

func TestAgentCount(t *testing.T) {
	h := newHarness(t)
	seedAgents(h)
	r := h.run("agent", "count").wantOK(t)
	if r.stdout != "3 attested agents\n" {
		t.Errorf("stdout %q", r.stdout)
	}
}

func TestTokenGenerate(t *testing.T) {
	tokenLine := regexp.MustCompile(`^Token: (\S+)\n$`)
	t.Run("the token lives 600 seconds by default", func(t *testing.T) {
		h := newHarness(t)
		now := h.srv.Clock.Now().Unix() // the server's clock stands still until stepped
		r := h.run("token", "generate", "-output", "json").wantOK(t)
		var token types.JoinToken
		if err := protojson.Unmarshal([]byte(r.stdout), &token); err != nil {
			t.Fatal(err)
		}
		if token.Value == "" || token.ExpiresAt != now+600 {
			t.Errorf("token %v, want one expiring 600 s after %d", &token, now)
		}
	})
	t.Run("-ttl and -spiffeID reach the server", func(t *testing.T) {
		h := newHarness(t)
		now := h.srv.Clock.Now().Unix()
		r := h.run("token", "generate", "-ttl", "60", "-spiffeID", "spiffe://example.org/node1", "-output", "json").wantOK(t)
		var token types.JoinToken
		if err := protojson.Unmarshal([]byte(r.stdout), &token); err != nil {
			t.Fatal(err)
		}
		if token.ExpiresAt != now+60 {
			t.Errorf("token %v, want one expiring 60 s after %d", &token, now)
		}
		// -spiffeID registers the alias: an entry for it, parented to the token's agent.
		aliases := h.storedEntries()
		if len(aliases) != 1 || idString(aliases[0].SpiffeId) != "spiffe://example.org/node1" ||
			idString(aliases[0].ParentId) != "spiffe://example.org/spire/agent/join_token/"+token.Value {
			t.Errorf("entries after token generate -spiffeID: %v", aliases)
		}
	})
	t.Run("pretty output is the token on a Token: line", func(t *testing.T) {
		h := newHarness(t)
		if r := h.run("token", "generate").wantOK(t); !tokenLine.MatchString(r.stdout) {
			t.Errorf("stdout %q, want \"Token: TOKEN\\n\"", r.stdout)
		}
	})
}
