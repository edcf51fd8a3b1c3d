package client

import (
	"sync"
	"sync/atomic"
)

// Current is the agent's connection to the server: one at a time, replaced when the
// agent SVID is renewed. A replaced connection is kept open (retired) until its user has
// moved (the manager's entry stream hands over without a gap) and then closed.
type Current struct {
	cur     atomic.Pointer[Client]
	changed chan struct{}

	mu      sync.Mutex
	retired []*Client
}

// NewCurrent starts with c as the connection.
func NewCurrent(c *Client) *Current {
	cur := &Current{changed: make(chan struct{}, 1)}
	cur.cur.Store(c)
	return cur
}

// Get returns the connection to use now.
func (c *Current) Get() *Client { return c.cur.Load() }

// Replace makes next the connection Get returns, retires the previous one and signals
// Changed.
func (c *Current) Replace(next *Client) {
	old := c.cur.Swap(next)
	c.mu.Lock()
	c.retired = append(c.retired, old)
	c.mu.Unlock()
	select {
	case c.changed <- struct{}{}:
	default:
	}
}

// Changed receives after Replace (one signal for several replacements not yet received).
func (c *Current) Changed() <-chan struct{} { return c.changed }

// CloseRetired closes the connections Replace retired.
func (c *Current) CloseRetired() {
	c.mu.Lock()
	old := c.retired
	c.retired = nil
	c.mu.Unlock()
	for _, r := range old {
		_ = r.Close()
	}
}

// Close closes the retired connections and the current one.
func (c *Current) Close() {
	c.CloseRetired()
	_ = c.Get().Close()
}
