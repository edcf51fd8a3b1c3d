package entrycache

import (
	"slices"
	"strings"
	"time"

	"github.com/lanyard-dev/lanyard/attestors"
	"github.com/lanyard-dev/lanyard/server/datastore"
)

// entrySet holds entries by ID.
type entrySet map[string]*datastore.Entry

// index holds entries with the lookups authorization needs. It is not safe for concurrent
// use; Cache guards it. Entries in it are never modified, only replaced, so readers may
// hand them out after releasing the lock.
type index struct {
	byID       entrySet
	byParent   map[string]entrySet // parent SPIFFE ID → entries parented to it
	bySPIFFEID map[string]entrySet // SPIFFE ID → entries with it (walking up in isAuthorized)
	// Parent and SPIFFE ID → entries with both: whether an agent holds an ID through an
	// entry parented to it, without looking at every agent's entry with that ID.
	byParentAndID map[parentAndID]entrySet
	// Node alias entries (parented to the server), by each of their distinct selectors,
	// and how many distinct selectors each has: an agent holds an alias when it has all.
	aliasBySelector map[attestors.Selector]entrySet
	aliasSelectors  map[string]int
	serverID        string
}

func newIndex() *index {
	return &index{
		byID:            entrySet{},
		byParent:        map[string]entrySet{},
		bySPIFFEID:      map[string]entrySet{},
		byParentAndID:   map[parentAndID]entrySet{},
		aliasBySelector: map[attestors.Selector]entrySet{},
		aliasSelectors:  map[string]int{},
	}
}

type parentAndID struct{ parent, id string }

// put adds e, replacing any entry with the same ID.
func (x *index) put(e *datastore.Entry, serverID string) {
	x.remove(e.ID, serverID)
	x.byID[e.ID] = e
	addTo(x.byParent, e.ParentID, e)
	addTo(x.bySPIFFEID, e.SPIFFEID, e)
	addTo(x.byParentAndID, parentAndID{e.ParentID, e.SPIFFEID}, e)
	if e.ParentID == serverID {
		sels := datastore.SortSelectors(e.Selectors)
		x.aliasSelectors[e.ID] = len(sels)
		for _, s := range sels {
			addTo(x.aliasBySelector, s, e)
		}
	}
}

// remove deletes the entry with id, if present.
func (x *index) remove(id, serverID string) {
	e, ok := x.byID[id]
	if !ok {
		return
	}
	delete(x.byID, id)
	removeFrom(x.byParent, e.ParentID, id)
	removeFrom(x.bySPIFFEID, e.SPIFFEID, id)
	removeFrom(x.byParentAndID, parentAndID{e.ParentID, e.SPIFFEID}, id)
	if e.ParentID == serverID {
		delete(x.aliasSelectors, id)
		for _, s := range e.Selectors {
			removeFrom(x.aliasBySelector, s, id)
		}
	}
}

func addTo[K comparable](m map[K]entrySet, k K, e *datastore.Entry) {
	set := m[k]
	if set == nil {
		set = entrySet{}
		m[k] = set
	}
	set[e.ID] = e
}

func removeFrom[K comparable](m map[K]entrySet, k K, id string) {
	if set := m[k]; set != nil {
		delete(set, id)
		if len(set) == 0 {
			delete(m, k)
		}
	}
}

func expired(e *datastore.Entry, now time.Time) bool {
	return e.ExpiresAt != 0 && !now.Before(time.Unix(e.ExpiresAt, 0))
}

// aliases returns the node alias entries whose selectors are all among the agent's. An
// alias without selectors matches no agent. Only aliases sharing a selector with the agent
// are looked at, so the cost does not grow with the number of unrelated aliases.
func (x *index) aliases(agentSelectors []attestors.Selector) []*datastore.Entry {
	if len(x.aliasSelectors) == 0 {
		return nil
	}
	have := map[string]int{}
	for _, s := range datastore.SortSelectors(agentSelectors) {
		for id := range x.aliasBySelector[s] {
			have[id]++
		}
	}
	var out []*datastore.Entry
	for id, n := range have {
		if n == x.aliasSelectors[id] {
			out = append(out, x.byID[id])
		}
	}
	return out
}

// authorized walks down from the IDs the agent holds (its own and its aliases') through
// every entry parented to a held ID. Each SPIFFE ID is expanded once, so cycles end and
// every entry (having one parent) is reached at most once. The server ID is never
// expanded: only alias matching may grant entries parented to it.
func (x *index) authorized(agentID string, agentSelectors []attestors.Selector, serverID string, now time.Time) []*datastore.Entry {
	if agentID == "" || agentID == serverID {
		return nil
	}
	expanded := map[string]bool{agentID: true, serverID: true}
	queue := []string{agentID}
	var out []*datastore.Entry
	reach := func(e *datastore.Entry) {
		if expired(e, now) {
			return
		}
		out = append(out, e)
		if !expanded[e.SPIFFEID] {
			expanded[e.SPIFFEID] = true
			queue = append(queue, e.SPIFFEID)
		}
	}
	for _, alias := range x.aliases(agentSelectors) {
		reach(alias)
	}
	for i := 0; i < len(queue); i++ {
		for _, e := range x.byParent[queue[i]] {
			reach(e)
		}
	}
	slices.SortFunc(out, func(a, b *datastore.Entry) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// isAuthorized walks up from the entry: it is authorized when it is unexpired and its
// parent is the agent, or it is an alias the agent's selectors match, or its parent is the
// SPIFFE ID of some authorized entry. The answer equals membership in authorized().
func (x *index) isAuthorized(agentID string, agentSelectors []attestors.Selector, serverID, entryID string, now time.Time) (*datastore.Entry, bool) {
	e, ok := x.byID[entryID]
	if !ok || agentID == "" || agentID == serverID {
		return nil, false
	}
	w := upWalk{x: x, agentID: agentID, serverID: serverID, now: now, visited: map[string]bool{}}
	w.have = map[attestors.Selector]bool{}
	for _, s := range agentSelectors {
		w.have[s] = true
	}
	if !w.entry(e) {
		return nil, false
	}
	return e, true
}

type upWalk struct {
	x                 *index
	agentID, serverID string
	have              map[attestors.Selector]bool
	now               time.Time
	visited           map[string]bool // SPIFFE IDs already asked about
}

func (w *upWalk) entry(e *datastore.Entry) bool {
	switch {
	case expired(e, w.now):
		return false
	case e.ParentID == w.agentID:
		return true
	case e.ParentID == w.serverID:
		return w.aliasMatches(e)
	}
	return w.holds(e.ParentID)
}

// holds reports whether the agent holds id through some authorized entry with that SPIFFE
// ID. A visited ID is either on the current path (a cycle) or already found not held,
// because a held one ends the walk at once.
func (w *upWalk) holds(id string) bool {
	if w.visited[id] || id == w.serverID {
		return false
	}
	w.visited[id] = true
	// An ID held by many agents is most often held through one entry per agent, parented
	// to it (a node set): look among the agent's own entries first, so that the walk costs
	// what this agent has rather than what every agent has.
	for _, e := range w.x.byParentAndID[parentAndID{w.agentID, id}] {
		if !expired(e, w.now) {
			return true
		}
	}
	for _, e := range w.x.bySPIFFEID[id] {
		if w.entry(e) {
			return true
		}
	}
	return false
}

func (w *upWalk) aliasMatches(e *datastore.Entry) bool {
	if len(e.Selectors) == 0 {
		return false
	}
	for _, s := range e.Selectors {
		if !w.have[s] {
			return false
		}
	}
	return true
}
