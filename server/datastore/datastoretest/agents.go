package datastoretest

import (
	"fmt"
	"reflect"
	"slices"
	"testing"

	"github.com/lanyard-dev/lanyard/server/datastore"
)

func agent(name string, selectors ...string) *datastore.Agent {
	return &datastore.Agent{
		ID: td + "/spire/agent/join_token/" + name, AttestationType: "join_token", SerialNumber: "1",
		ExpiresAt: 2_000_000_000, Selectors: sels(selectors...), CreatedAt: 1_700_000_000, UpdatedAt: 1_700_000_000,
	}
}

func sameAgent(t *testing.T, got, want *datastore.Agent) {
	t.Helper()
	norm := func(a *datastore.Agent) datastore.Agent {
		c := *a
		c.Selectors = datastore.SortSelectors(a.Selectors)
		if len(c.Selectors) == 0 {
			c.Selectors = nil
		}
		return c
	}
	if g, w := norm(got), norm(want); !reflect.DeepEqual(g, w) {
		t.Fatalf("agent differs:\n got  %+v\n want %+v", g, w)
	}
}

// createdAgent stores agent(name) and returns it as read back from s.
func createdAgent(t *testing.T, s datastore.Store, name string) *datastore.Agent {
	t.Helper()
	if _, err := s.CreateAgent(t.Context(), agent(name)); err != nil {
		t.Fatal(err)
	}
	a, err := s.GetAgent(t.Context(), agent(name).ID)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func agentIDs(agents []*datastore.Agent) []string {
	out := make([]string, len(agents))
	for i, a := range agents {
		out[i] = a.ID
	}
	return out
}

var agentTests = map[string]func(t *testing.T, open Opener){
	"create stores every field and a second create is ErrAlreadyExists": func(t *testing.T, open Opener) {
		s := open(t)
		in := agent("n1", "k8s_psat:cluster:c1", "k8s_psat:agent_ns:spire")
		in.NewSerialNumber, in.NewExpiresAt, in.CanReattest = "2", 2_100_000_000, true
		got, err := s.CreateAgent(t.Context(), in)
		if err != nil {
			t.Fatal(err)
		}
		sameAgent(t, got, in)
		stored, err := s.GetAgent(t.Context(), in.ID)
		if err != nil {
			t.Fatal(err)
		}
		sameAgent(t, stored, in)
		_, err = s.CreateAgent(t.Context(), agent("n1"))
		wantErr(t, err, datastore.ErrAlreadyExists)
	},
	"create fills a zero CreatedAt": func(t *testing.T, open Opener) {
		s := open(t)
		in := agent("n1")
		in.CreatedAt, in.UpdatedAt = 0, 0
		got, err := s.CreateAgent(t.Context(), in)
		if err != nil {
			t.Fatal(err)
		}
		if got.CreatedAt == 0 || got.UpdatedAt == 0 {
			t.Fatalf("CreatedAt %d, UpdatedAt %d; want both set", got.CreatedAt, got.UpdatedAt)
		}
	},
	"update with every field replaces the agent and keeps CreatedAt": func(t *testing.T, open Opener) {
		s := open(t)
		orig, err := s.CreateAgent(t.Context(), agent("n1", "unix:uid:0"))
		if err != nil {
			t.Fatal(err)
		}
		upd := agent("n1", "k8s:ns:x")
		upd.SerialNumber, upd.Banned, upd.CreatedAt, upd.UpdatedAt = "9", true, 0, 1_800_000_000
		got, err := s.UpdateAgent(t.Context(), upd, datastore.AllAgentFields, nil)
		if err != nil {
			t.Fatal(err)
		}
		want := *upd
		want.CreatedAt = orig.CreatedAt
		sameAgent(t, got, &want)
		stored, _ := s.GetAgent(t.Context(), upd.ID)
		sameAgent(t, stored, &want)
		n, err := s.CountAgents(t.Context(), datastore.AgentFilter{BySelectors: &datastore.SelectorMatch{
			Selectors: sels("unix:uid:0"), Match: datastore.MatchAny}})
		if err != nil || n != 0 {
			t.Fatalf("old selector still matches %d agents (%v)", n, err)
		}
		_, err = s.UpdateAgent(t.Context(), agent("missing"), datastore.AllAgentFields, nil)
		wantErr(t, err, datastore.ErrNotFound)
	},
	"update changes only the masked fields": func(t *testing.T, open Opener) {
		s := open(t)
		orig, err := s.CreateAgent(t.Context(), agent("n1", "unix:uid:0"))
		if err != nil {
			t.Fatal(err)
		}
		// A writer that only renews sends an otherwise empty record.
		upd := &datastore.Agent{ID: orig.ID, NewSerialNumber: "2", NewExpiresAt: 2_100_000_000, UpdatedAt: 1_800_000_000}
		got, err := s.UpdateAgent(t.Context(), upd, datastore.AgentMask{NewSerialNumber: true, NewExpiresAt: true}, nil)
		if err != nil {
			t.Fatal(err)
		}
		want := *orig
		want.NewSerialNumber, want.NewExpiresAt, want.UpdatedAt = "2", 2_100_000_000, 1_800_000_000
		sameAgent(t, got, &want)
		stored, _ := s.GetAgent(t.Context(), orig.ID)
		sameAgent(t, stored, &want)
	},
	"the agent version is written only under its mask and survives other updates": func(t *testing.T, open Opener) {
		s := open(t)
		orig, err := s.CreateAgent(t.Context(), agent("v1", "unix:uid:0"))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.UpdateAgent(t.Context(), &datastore.Agent{ID: orig.ID, AgentVersion: "lanyard 1.2.3"},
			datastore.AgentMask{AgentVersion: true}, datastore.ConditionOf(orig)); err != nil {
			t.Fatal(err)
		}
		if _, err := s.UpdateAgent(t.Context(), &datastore.Agent{ID: orig.ID, Banned: true}, datastore.AgentMask{Banned: true}, nil); err != nil {
			t.Fatal(err)
		}
		got, err := s.GetAgent(t.Context(), orig.ID)
		if err != nil || got.AgentVersion != "lanyard 1.2.3" || !got.Banned {
			t.Fatalf("agent %+v, %v; want version lanyard 1.2.3 and banned", got, err)
		}
	},
	"a stale write after a ban is ErrConflict and the ban stays": func(t *testing.T, open Opener) {
		s := open(t)
		// A renewal and an activation read the agent, then an administrator bans it,
		// then both write what they computed from their read.
		read := createdAgent(t, s, "n1")
		ban := &datastore.Agent{ID: read.ID, Banned: true}
		if _, err := s.UpdateAgent(t.Context(), ban, datastore.AgentMask{Banned: true, SerialNumber: true, NewSerialNumber: true}, nil); err != nil {
			t.Fatal(err)
		}
		renew := *read
		renew.NewSerialNumber, renew.NewExpiresAt = "2", 2_100_000_000
		_, err := s.UpdateAgent(t.Context(), &renew, datastore.AgentMask{NewSerialNumber: true, NewExpiresAt: true}, datastore.ConditionOf(read))
		wantErr(t, err, datastore.ErrConflict)
		stale := *read
		_, err = s.UpdateAgent(t.Context(), &stale, datastore.AllAgentFields, datastore.ConditionOf(read))
		wantErr(t, err, datastore.ErrConflict)
		stored, err := s.GetAgent(t.Context(), read.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !stored.Banned || stored.SerialNumber != "" || stored.NewSerialNumber != "" {
			t.Fatalf("after a ban and stale writes the agent is banned=%v serial=%q new serial=%q; want banned with no serials",
				stored.Banned, stored.SerialNumber, stored.NewSerialNumber)
		}
	},
	"a write conditioned on serials that changed is ErrConflict": func(t *testing.T, open Opener) {
		s := open(t)
		read := createdAgent(t, s, "n1")
		// Two renewals of the same read: the first wins, the second must not replace its serial.
		first, second := *read, *read
		first.NewSerialNumber, second.NewSerialNumber = "2", "3"
		renewMask := datastore.AgentMask{NewSerialNumber: true, NewExpiresAt: true}
		if _, err := s.UpdateAgent(t.Context(), &first, renewMask, datastore.ConditionOf(read)); err != nil {
			t.Fatal(err)
		}
		_, err := s.UpdateAgent(t.Context(), &second, renewMask, datastore.ConditionOf(read))
		wantErr(t, err, datastore.ErrConflict)
		// Evicted and attested again: a write based on the old record is refused too.
		if err := s.DeleteAgent(t.Context(), read.ID); err != nil {
			t.Fatal(err)
		}
		again := agent("n1")
		again.SerialNumber = "7"
		if _, err := s.CreateAgent(t.Context(), again); err != nil {
			t.Fatal(err)
		}
		_, err = s.UpdateAgent(t.Context(), &second, renewMask, datastore.ConditionOf(read))
		wantErr(t, err, datastore.ErrConflict)
		if stored, _ := s.GetAgent(t.Context(), read.ID); stored.SerialNumber != "7" || stored.NewSerialNumber != "" {
			t.Fatalf("re-attested agent has serial %q, new serial %q; want 7 and none", stored.SerialNumber, stored.NewSerialNumber)
		}
	},
	"delete removes the agent and unknown IDs are ErrNotFound": func(t *testing.T, open Opener) {
		s := open(t)
		a, err := s.CreateAgent(t.Context(), agent("n1", "unix:uid:0"))
		if err != nil {
			t.Fatal(err)
		}
		if err := s.DeleteAgent(t.Context(), a.ID); err != nil {
			t.Fatal(err)
		}
		_, err = s.GetAgent(t.Context(), a.ID)
		wantErr(t, err, datastore.ErrNotFound)
		wantErr(t, s.DeleteAgent(t.Context(), a.ID), datastore.ErrNotFound)
		// The ID can be attested again.
		if _, err := s.CreateAgent(t.Context(), agent("n1")); err != nil {
			t.Fatal(err)
		}
	},
	"agent filters return exactly the matching agents": func(t *testing.T, open Opener) {
		s := open(t)
		a1 := agent("a1", "k8s_psat:cluster:c1", "k8s_psat:node:n1")
		a2 := agent("a2", "k8s_psat:cluster:c1")
		a2.AttestationType, a2.Banned, a2.ExpiresAt = "k8s_psat", true, 1_000
		a3 := agent("a3")
		a3.CanReattest = true
		for _, a := range []*datastore.Agent{a1, a2, a3} {
			if _, err := s.CreateAgent(t.Context(), a); err != nil {
				t.Fatal(err)
			}
		}
		cases := map[string]struct {
			f    datastore.AgentFilter
			want []*datastore.Agent
		}{
			"no filter":          {datastore.AgentFilter{}, []*datastore.Agent{a1, a2, a3}},
			"attestation type":   {datastore.AgentFilter{ByAttestationType: "k8s_psat"}, []*datastore.Agent{a2}},
			"banned":             {datastore.AgentFilter{ByBanned: ptr(true)}, []*datastore.Agent{a2}},
			"not banned":         {datastore.AgentFilter{ByBanned: ptr(false)}, []*datastore.Agent{a1, a3}},
			"can reattest":       {datastore.AgentFilter{ByCanReattest: ptr(true)}, []*datastore.Agent{a3}},
			"expires before":     {datastore.AgentFilter{ByExpiresBefore: 2_000}, []*datastore.Agent{a2}},
			"selectors exact":    {datastore.AgentFilter{BySelectors: &datastore.SelectorMatch{Selectors: sels("k8s_psat:cluster:c1"), Match: datastore.MatchExact}}, []*datastore.Agent{a2}},
			"selectors superset": {datastore.AgentFilter{BySelectors: &datastore.SelectorMatch{Selectors: sels("k8s_psat:cluster:c1"), Match: datastore.MatchSuperset}}, []*datastore.Agent{a1, a2}},
			"selectors subset":   {datastore.AgentFilter{BySelectors: &datastore.SelectorMatch{Selectors: sels("k8s_psat:cluster:c1", "k8s_psat:node:n1"), Match: datastore.MatchSubset}}, []*datastore.Agent{a1, a2}},
			"selectors any":      {datastore.AgentFilter{BySelectors: &datastore.SelectorMatch{Selectors: sels("k8s_psat:node:n1", "x:y"), Match: datastore.MatchAny}}, []*datastore.Agent{a1}},
		}
		for name, tc := range cases {
			t.Run(name, func(t *testing.T) {
				want := agentIDs(tc.want)
				slices.Sort(want)
				got, next, err := s.ListAgents(t.Context(), tc.f, datastore.Page{})
				if err != nil || next != "" {
					t.Fatalf("ListAgents: token %q, %v", next, err)
				}
				if !slices.Equal(agentIDs(got), want) {
					t.Fatalf("ListAgents = %v, want %v", agentIDs(got), want)
				}
				if n, err := s.CountAgents(t.Context(), tc.f); err != nil || n != len(want) {
					t.Fatalf("CountAgents = %d, %v; want %d", n, err, len(want))
				}
			})
		}
	},
	"agents page in ID order": func(t *testing.T, open Opener) {
		s := open(t)
		var want []string
		for i := range 25 {
			a, err := s.CreateAgent(t.Context(), agent(fmt.Sprintf("n%02d", 24-i)))
			if err != nil {
				t.Fatal(err)
			}
			want = append(want, a.ID)
		}
		slices.Sort(want)
		var got []string
		token := ""
		for pages := 0; ; pages++ {
			if pages > 3 {
				t.Fatal("paging 25 agents by 10 took more than 3 pages")
			}
			page, next, err := s.ListAgents(t.Context(), datastore.AgentFilter{}, datastore.Page{Size: 10, Token: token})
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, agentIDs(page)...)
			if token = next; token == "" {
				break
			}
		}
		if !slices.Equal(got, want) {
			t.Fatalf("paged agents = %v, want %v", got, want)
		}
	},
}
