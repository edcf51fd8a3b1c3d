package cli

import (
	"strings"
	"testing"

	agentv1 "github.com/spiffe/spire-api-sdk/proto/spire/api/server/agent/v1"
	"github.com/spiffe/spire-api-sdk/proto/spire/api/types"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

func agentID(token string) *types.SPIFFEID {
	return id("example.org", "/spire/agent/join_token/"+token)
}

func seedAgents(h *harness) {
	for _, a := range []*types.Agent{
		{Id: agentID("c"), AttestationType: "join_token", X509SvidSerialNumber: "3", X509SvidExpiresAt: 1900000000},
		{Id: agentID("a"), AttestationType: "join_token", X509SvidSerialNumber: "1", Selectors: []*types.Selector{sel("join_token", "a")}},
		{Id: agentID("b"), AttestationType: "join_token", X509SvidSerialNumber: "2", Banned: true},
	} {
		h.srv.addAgent(a)
	}
}

func TestAgentList(t *testing.T) {
	h := newHarness(t)
	seedAgents(h)

	t.Run("pages through every agent and prints them sorted", func(t *testing.T) {
		r := h.run("agent", "list").wantOK(t)
		if !strings.HasPrefix(r.stdout, "Found 3 attested agents\n") {
			t.Errorf("stdout:\n%s", r.stdout)
		}
		a := strings.Index(r.stdout, "join_token/a\n")
		b := strings.Index(r.stdout, "join_token/b\n")
		c := strings.Index(r.stdout, "join_token/c\n")
		if a < 0 || !(a < b && b < c) {
			t.Errorf("agents missing or unsorted:\n%s", r.stdout)
		}
		for _, line := range []string{"Attestation type : join_token", "Expiration time  : 2030-03-17T17:46:40Z", "Banned           : true", "Selector         : join_token:a"} {
			if !strings.Contains(r.stdout, line+"\n") {
				t.Errorf("stdout lacks %q:\n%s", line, r.stdout)
			}
		}
	})
	t.Run("flags become the list filter", func(t *testing.T) {
		h.run("agent", "list", "-selector", "k8s_psat:cluster:c1", "-matchSelectorsOn", "any", "-attestationType", "k8s_psat", "-banned",
			"-canReattest=false", "-expiresBefore", "2030-01-02 15:04:05 +0000 +00").wantOK(t)
		reqs := h.srv.requests("ListAgents")
		got := reqs[len(reqs)-1].(*agentv1.ListAgentsRequest).Filter
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
	})
	t.Run("json output holds every agent", func(t *testing.T) {
		r := h.run("agent", "list", "-output", "json").wantOK(t)
		var resp agentv1.ListAgentsResponse
		if err := protojson.Unmarshal([]byte(r.stdout), &resp); err != nil || len(resp.Agents) != 3 {
			t.Errorf("json %q: %v", r.stdout, err)
		}
	})
}

func TestAgentByID(t *testing.T) {
	tests := []struct {
		name    string
		command string
		stdout  string
		check   func(t *testing.T, h *harness)
	}{
		{"show prints the agent", "show", "SPIFFE ID        : spiffe://example.org/spire/agent/join_token/a\n", nil},
		{"evict deletes the agent", "evict", "Agent evicted successfully\n", func(t *testing.T, h *harness) {
			if n := len(h.srv.storedAgents()); n != 2 {
				t.Errorf("%d agents left, want 2", n)
			}
		}},
		{"ban marks the agent banned", "ban", "Agent banned successfully\n", func(t *testing.T, h *harness) {
			for _, a := range h.srv.storedAgents() {
				if idString(a.Id) == "spiffe://example.org/spire/agent/join_token/a" && !a.Banned {
					t.Error("agent a is not banned")
				}
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			seedAgents(h)
			r := h.run("agent", tt.command, "-spiffeID", "spiffe://example.org/spire/agent/join_token/a").wantOK(t)
			if !strings.Contains(r.stdout, tt.stdout) {
				t.Errorf("stdout %q, want it to contain %q", r.stdout, tt.stdout)
			}
			if tt.check != nil {
				tt.check(t, h)
			}
		})
		t.Run(tt.command+" of an unknown agent shows the server's status", func(t *testing.T) {
			h := newHarness(t)
			h.run("agent", tt.command, "-spiffeID", "spiffe://example.org/ghost").
				wantError(t, "agent "+tt.command+" spiffe://example.org/ghost: NotFound: agent spiffe://example.org/ghost not found")
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
	tests := []struct {
		name string
		args []string
		want *agentv1.CreateJoinTokenRequest
	}{
		{"the token lives 600 seconds by default", nil, &agentv1.CreateJoinTokenRequest{Ttl: 600}},
		{"-ttl and -spiffeID reach the request", []string{"-ttl", "60", "-spiffeID", "spiffe://example.org/node1"},
			&agentv1.CreateJoinTokenRequest{Ttl: 60, AgentId: id("example.org", "/node1")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			r := h.run(append([]string{"token", "generate"}, tt.args...)...).wantOK(t)
			if r.stdout != "Token: token-1\n" {
				t.Errorf("stdout %q, want \"Token: token-1\\n\"", r.stdout)
			}
			if d := diffProto(tt.want, h.srv.requests("CreateJoinToken")[0].(*agentv1.CreateJoinTokenRequest)); d != "" {
				t.Error(d)
			}
		})
	}
}
