package entrycache

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/lanyard-dev/lanyard/attestors"
	"github.com/lanyard-dev/lanyard/server/datastore"
)

func TestAuthorizedEntries(t *testing.T) {
	clk := newClock()
	past := clk.Now().Add(-time.Second).Unix()
	future := clk.Now().Add(time.Hour).Unix()
	expiring := func(e *datastore.Entry, at int64) *datastore.Entry { e.ExpiresAt = at; return e }

	tests := map[string]struct {
		entries []*datastore.Entry
		want    []string // entry IDs authorized for agent A with selsA
	}{
		"an entry parented to the agent is authorized and another agent's is not": {
			entries: []*datastore.Entry{ent("mine", agentA, id("/w")), ent("theirs", agentB, id("/w2"))},
			want:    []string{"mine"},
		},
		"descendants are authorized at any depth": {
			entries: []*datastore.Entry{
				ent("d1", agentA, id("/l1")), ent("d2", id("/l1"), id("/l2")),
				ent("d3", id("/l2"), id("/l3")), ent("d4", id("/l3"), id("/l4")),
				ent("stranger", id("/elsewhere"), id("/l5")),
			},
			want: []string{"d1", "d2", "d3", "d4"},
		},
		"another agent's descendants are not authorized": {
			entries: []*datastore.Entry{ent("b1", agentB, id("/b1")), ent("b2", id("/b1"), id("/b2"))},
			want:    nil,
		},
		"a cycle below the agent ends and includes each entry once": {
			entries: []*datastore.Entry{
				ent("c1", agentA, id("/x")), ent("c2", id("/x"), id("/y")),
				ent("c3", id("/y"), id("/x")), ent("c4", id("/y"), agentA),
			},
			want: []string{"c1", "c2", "c3", "c4"},
		},
		"a cycle the agent cannot reach grants nothing": {
			entries: []*datastore.Entry{ent("p", id("/q"), id("/p")), ent("q", id("/p"), id("/q"))},
			want:    nil,
		},
		"a node alias whose selectors the agent has grants the alias and what hangs below it": {
			entries: []*datastore.Entry{
				ent("alias", serverID, id("/cluster/c1"), sel("k8s_psat", "cluster:c1")),
				ent("w1", id("/cluster/c1"), id("/w1")), ent("w2", id("/w1"), id("/w2")),
			},
			want: []string{"alias", "w1", "w2"},
		},
		"a node alias needs all of its selectors": {
			entries: []*datastore.Entry{
				ent("alias", serverID, id("/cluster/both"), sel("k8s_psat", "cluster:c1"), sel("k8s_psat", "cluster:c2")),
				ent("w1", id("/cluster/both"), id("/w1")),
			},
			want: nil,
		},
		"a node alias matching another agent's selectors grants nothing": {
			entries: []*datastore.Entry{
				ent("alias", serverID, id("/node-b"), sel("k8s_psat", "agent_node_name:node-b")),
				ent("w1", id("/node-b"), id("/w1")),
			},
			want: nil,
		},
		"being parented to the server does not authorize an entry by itself": {
			entries: []*datastore.Entry{
				ent("node", serverID, agentA, sel("k8s_psat", "cluster:other")),
				ent("w1", agentA, id("/w1")),
			},
			want: []string{"w1"},
		},
		"an authorized entry named after the server does not grant entries parented to the server": {
			entries: []*datastore.Entry{
				ent("fake-server", agentA, serverID),
				ent("alias-b", serverID, id("/node-b"), sel("k8s_psat", "agent_node_name:node-b")),
			},
			want: []string{"fake-server"},
		},
		"expired entries and what hangs below them are not authorized": {
			entries: []*datastore.Entry{
				expiring(ent("old", agentA, id("/old")), past), ent("under-old", id("/old"), id("/u")),
				expiring(ent("live", agentA, id("/live")), future),
				expiring(ent("old-alias", serverID, id("/cluster/c1"), sel("k8s_psat", "cluster:c1")), past),
				ent("under-alias", id("/cluster/c1"), id("/a")),
			},
			want: []string{"live"},
		},
		"an entry reachable both through the agent and an alias is listed once": {
			entries: []*datastore.Entry{
				ent("alias", serverID, id("/cluster/c1"), sel("k8s_psat", "cluster:c1")),
				ent("via-agent", agentA, id("/shared")), ent("via-alias", id("/cluster/c1"), id("/shared")),
				ent("below", id("/shared"), id("/below")),
			},
			want: []string{"alias", "below", "via-agent", "via-alias"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			store := openStore(t)
			create(t, store, tc.entries...)
			c := newCache(t, store, clk)
			got := c.AuthorizedEntries(agentA, selsA)
			if ids := entryIDs(got); !slices.Equal(ids, tc.want) && (len(ids) != 0 || len(tc.want) != 0) {
				t.Fatalf("authorized %v, want %v", ids, tc.want)
			}
			for _, e := range tc.entries {
				_, ok := c.IsAuthorized(agentA, selsA, e.ID)
				if want := slices.Contains(tc.want, e.ID); ok != want {
					t.Errorf("IsAuthorized(%s) = %v, want %v", e.ID, ok, want)
				}
			}
		})
	}
}

func TestAuthorizedEntriesIsEmptyForTheServerOrNoAgent(t *testing.T) {
	store := openStore(t)
	create(t, store, ent("e", serverID, id("/x"), selsA[0]))
	c := newCache(t, store, newClock())
	for _, agent := range []string{serverID, ""} {
		if got := c.AuthorizedEntries(agent, selsA); len(got) != 0 {
			t.Errorf("agent %q got %v", agent, entryIDs(got))
		}
		if _, ok := c.IsAuthorized(agent, selsA, "e"); ok {
			t.Errorf("agent %q is authorized for an entry parented to the server", agent)
		}
	}
}

// TestAuthorizationMatchesTheRule compares both lookups against a direct reading of the
// rule (a fixed point over all entries) on random entry graphs with cycles, aliases and
// expired entries.
func TestAuthorizationMatchesTheRule(t *testing.T) {
	clk := newClock()
	for seed := range uint64(8) {
		t.Run(fmt.Sprintf("seed %d", seed), func(t *testing.T) {
			r := rand.New(rand.NewPCG(seed, 42))
			ids := []string{agentA, agentB, serverID}
			for i := range 150 {
				ids = append(ids, id(fmt.Sprintf("/n%d", i)))
			}
			nodeSels := []attestors.Selector{selsA[0], selsA[1], sel("k8s_psat", "cluster:c2"), sel("k8s_psat", "agent_node_name:node-b")}
			var entries []*datastore.Entry
			for i := range 300 {
				e := ent(fmt.Sprintf("e%03d", i), ids[r.IntN(len(ids))], ids[3+r.IntN(len(ids)-3)])
				if e.ParentID == serverID {
					e.Selectors = nil
					for _, s := range nodeSels {
						if r.IntN(2) == 0 {
							e.Selectors = append(e.Selectors, s)
						}
					}
					if len(e.Selectors) == 0 {
						e.Selectors = nodeSels[:1]
					}
					e.Selectors = append(e.Selectors, sel("tag", e.ID)) // keeps aliases distinct
					e.Selectors = e.Selectors[:len(e.Selectors)-r.IntN(2)]
				}
				if r.IntN(10) == 0 {
					e.ExpiresAt = clk.Now().Add(-time.Minute).Unix()
				}
				entries = append(entries, e)
			}
			store := openStore(t)
			created := make([]*datastore.Entry, 0, len(entries))
			res, err := store.CreateEntries(t.Context(), entries)
			must(t, err)
			for _, r := range res {
				if r.Err == nil { // duplicates of an earlier random entry are refused; skip them
					created = append(created, r.Entry)
				}
			}
			c := newCache(t, store, clk)
			want := ruleFixedPoint(created, agentA, selsA, clk.Now())
			got := entryIDs(c.AuthorizedEntries(agentA, selsA))
			t.Logf("%d of %d entries authorized", len(want), len(created))
			if !slices.Equal(got, want) {
				t.Fatalf("AuthorizedEntries = %v\nthe rule gives  %v", got, want)
			}
			for _, e := range created {
				_, ok := c.IsAuthorized(agentA, selsA, e.ID)
				if ok != slices.Contains(want, e.ID) {
					t.Errorf("IsAuthorized(%s) = %v, the rule says %v", e.ID, ok, !ok)
				}
			}
		})
	}
}

// ruleFixedPoint applies the authorization rule naively until nothing changes.
func ruleFixedPoint(entries []*datastore.Entry, agent string, agentSels []attestors.Selector, now time.Time) []string {
	held := map[string]bool{agent: true}
	authorized := map[string]bool{}
	for changed := true; changed; {
		changed = false
		for _, e := range entries {
			if authorized[e.ID] || (e.ExpiresAt != 0 && time.Unix(e.ExpiresAt, 0).Before(now)) {
				continue
			}
			isAlias := e.ParentID == serverID && datastore.MatchSelectors(e.Selectors, datastore.SelectorMatch{Selectors: agentSels, Match: datastore.MatchSubset})
			if isAlias || (e.ParentID != serverID && held[e.ParentID]) {
				authorized[e.ID], held[e.SPIFFEID], changed = true, true, true
			}
		}
	}
	var out []string
	for id := range authorized {
		out = append(out, id)
	}
	slices.Sort(out)
	return out
}
