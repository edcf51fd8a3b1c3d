package api

import (
	"sync"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/lanyard-dev/lanyard/server/datastore"
)

// maxAgentRows bounds the remembered rows; when full they are all dropped and read again.
const maxAgentRows = 1 << 17

// agentRows remembers the agent rows checkAgent read, so that an agent's calls (minting,
// status, every stream re-check) do not each read the datastore: with thousands of agents
// those reads were most of the server's datastore work. The zero value is ready.
type agentRows struct {
	mu   sync.Mutex
	rows map[string]agentRow
	// gen counts forgets: a row read before a forget (a ban racing the read) must not be
	// remembered after it, so put takes the generation seen before the read.
	gen uint64
}

type agentRow struct {
	agent  *datastore.Agent
	readAt time.Time
}

// get returns id's row if it was read less than ttl before now.
func (r *agentRows) get(id string, now time.Time, ttl time.Duration) *datastore.Agent {
	r.mu.Lock()
	defer r.mu.Unlock()
	row, ok := r.rows[id]
	if !ok || now.Sub(row.readAt) >= ttl || now.Before(row.readAt) {
		return nil
	}
	return row.agent
}

// generation is taken before reading a row from the datastore and given to put.
func (r *agentRows) generation() uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.gen
}

// put remembers a row read at readAt, unless something was forgotten since generation
// gen was taken: the row may predate that change.
func (r *agentRows) put(a *datastore.Agent, readAt time.Time, gen uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if gen != r.gen {
		return
	}
	if r.rows == nil || len(r.rows) >= maxAgentRows {
		r.rows = map[string]agentRow{}
	}
	r.rows[a.ID] = agentRow{agent: a, readAt: readAt}
}

func (r *agentRows) forget(id string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.rows, id)
	r.gen++
}

// Forget drops what the authenticator remembers of agent id: call it when this server
// attests, bans or evicts the agent, so that its next call reads the datastore.
func (a *Authenticator) Forget(id spiffeid.ID) { a.rows.forget(id.String()) }
