package entrycache

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/lanyard-dev/lanyard/attestors"
	"github.com/lanyard-dev/lanyard/internal/spireid"
	"github.com/lanyard-dev/lanyard/server/datastore"
)

// Config configures a Cache.
type Config struct {
	// Store is where entries and entry events are read. Required.
	Store datastore.EntryStore
	// TrustDomain is the server's trust domain; node alias entries are parented to its
	// server ID (spiffe://<td>/spire/server). Required.
	TrustDomain spiffeid.TrustDomain
	// Log receives warnings about failed polls. Default: discard.
	Log *slog.Logger
	// PollInterval is how often entry events are polled, which is how changes made by
	// other servers arrive (local writes call Refresh). Default 1s.
	PollInterval time.Duration
	// FullResyncInterval is how often every entry is reloaded, and how often Watch streams
	// send a complete set, as a safety net against anything missed. Default 5m.
	FullResyncInterval time.Duration
	// Now returns the current time, used to decide which entries have expired. Default time.Now.
	Now func() time.Time
}

const (
	defaultPollInterval       = time.Second
	defaultFullResyncInterval = 5 * time.Minute
	// listPageSize bounds one ListEntries page during a full load.
	listPageSize = 5000
	// eventPageSize bounds one ListEntryEvents page.
	eventPageSize = 5000
	// applyChunk bounds how many entries are applied per write-lock hold, so readers
	// (every agent's stream) wait at most for one chunk during a big batch.
	applyChunk = 1000
	// readParallelism bounds concurrent GetEntry calls while applying events; it hides
	// round trips to a networked database without flooding it.
	readParallelism = 8
	// reloadThreshold is the number of changed entries above which reloading everything
	// is cheaper than reading them one by one.
	reloadThreshold = 20000
)

func (c *Config) setDefaults() error {
	if c.Store == nil {
		return errors.New("entrycache: Config.Store is nil: pass the server's datastore")
	}
	if c.TrustDomain.IsZero() {
		return errors.New("entrycache: Config.TrustDomain is empty: set the server's trust domain")
	}
	if c.PollInterval < 0 {
		return fmt.Errorf("entrycache: Config.PollInterval is %s: use a positive duration or 0 for the default (%s)", c.PollInterval, defaultPollInterval)
	}
	if c.FullResyncInterval < 0 {
		return fmt.Errorf("entrycache: Config.FullResyncInterval is %s: use a positive duration or 0 for the default (%s)", c.FullResyncInterval, defaultFullResyncInterval)
	}
	if c.PollInterval == 0 {
		c.PollInterval = defaultPollInterval
	}
	if c.FullResyncInterval == 0 {
		c.FullResyncInterval = defaultFullResyncInterval
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return nil
}

// Cache holds all registration entries in memory and answers which of them an agent is
// authorized for. It is safe for concurrent use: any number of readers, while a single
// applier (Run, Refresh) brings it up to date.
type Cache struct {
	cfg      Config
	serverID string

	// applyMu serialises appliers; it guards the fields below it.
	applyMu    sync.Mutex
	tracker    eventTracker
	lastReload time.Time
	nextExpiry int64 // unix seconds of the soonest future expiry; 0 when none

	// mu guards idx. Incremental applies mutate idx in chunks; full reloads swap it.
	mu  sync.RWMutex
	idx *index

	subMu sync.Mutex
	subs  map[chan struct{}]struct{}
}

// New loads every entry from the store and returns a cache that is current as of the
// store's latest entry event. Call Run to keep it current.
func New(ctx context.Context, cfg Config) (*Cache, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	c := &Cache{
		cfg:      cfg,
		serverID: spireid.Server(cfg.TrustDomain).String(),
		idx:      newIndex(),
		subs:     map[chan struct{}]struct{}{},
	}
	c.tracker.log = cfg.Log
	c.applyMu.Lock()
	defer c.applyMu.Unlock()
	if err := c.reloadLocked(ctx); err != nil {
		return nil, err
	}
	return c, nil
}

// Run polls entry events every PollInterval and reloads everything every
// FullResyncInterval until ctx is done. Failed polls are logged and retried; Run returns
// nil when ctx is cancelled.
func (c *Cache) Run(ctx context.Context) error {
	t := time.NewTicker(c.cfg.PollInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		if err := c.poll(ctx); err != nil && ctx.Err() == nil {
			c.cfg.Log.Warn("updating the entry cache failed; retrying", "error", err, "retry_in", c.cfg.PollInterval.String())
		}
	}
}

func (c *Cache) poll(ctx context.Context) error {
	c.applyMu.Lock()
	defer c.applyMu.Unlock()
	var err error
	if c.cfg.Now().Sub(c.lastReload) >= c.cfg.FullResyncInterval {
		err = c.reloadLocked(ctx)
	} else {
		err = c.refreshLocked(ctx)
	}
	c.checkExpiryLocked()
	return err
}

// Refresh applies pending entry events now. The entry API calls it right after a write so
// that the change reaches agents at once instead of at the next poll.
func (c *Cache) Refresh(ctx context.Context) error {
	c.applyMu.Lock()
	defer c.applyMu.Unlock()
	return c.refreshLocked(ctx)
}

// Subscribe returns a channel that receives a signal after every applied change (and when
// an entry expires). Signals coalesce: the channel holds at most one, so a slow reader
// sees one signal for many changes. Call the returned func to unsubscribe.
func (c *Cache) Subscribe() (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	c.subMu.Lock()
	c.subs[ch] = struct{}{}
	c.subMu.Unlock()
	var once sync.Once
	return ch, func() {
		once.Do(func() {
			c.subMu.Lock()
			delete(c.subs, ch)
			c.subMu.Unlock()
		})
	}
}

func (c *Cache) notify() {
	c.subMu.Lock()
	defer c.subMu.Unlock()
	for ch := range c.subs {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

// AuthorizedEntries returns the unexpired entries agentID may obtain SVIDs for, ordered by
// entry ID: entries parented to the agent, node alias entries whose selectors the agent
// has, entries parented to any of those aliases, and all their descendants. Node alias
// entries are part of the answer (as in SPIRE) although agents mint no SVIDs for them.
// The returned entries are shared with the cache and must not be modified.
func (c *Cache) AuthorizedEntries(agentID string, agentSelectors []attestors.Selector) []*datastore.Entry {
	now := c.cfg.Now()
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.idx.authorized(agentID, agentSelectors, c.serverID, now)
}

// IsAuthorized reports whether the entry with entryID is among AuthorizedEntries(agentID,
// agentSelectors), and returns it if so, walking up from the entry instead of computing
// the agent's whole set. The returned entry must not be modified.
func (c *Cache) IsAuthorized(agentID string, agentSelectors []attestors.Selector, entryID string) (*datastore.Entry, bool) {
	now := c.cfg.Now()
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.idx.isAuthorized(agentID, agentSelectors, c.serverID, entryID, now)
}

// IsNodeAlias reports whether e is a node alias entry of the trust domain: it is parented
// to the server and names agents by their selectors. Agents get no SVIDs for these.
func (c *Cache) IsNodeAlias(e *datastore.Entry) bool {
	return e.ParentID == c.serverID
}

// Len returns the number of cached entries, expired ones included.
func (c *Cache) Len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.idx.byID)
}

// IsAdmin reports whether an unexpired admin entry has the SPIFFE ID id. It answers from
// memory, so authenticating an admin caller costs no datastore query.
func (c *Cache) IsAdmin(id string) bool {
	now := c.cfg.Now()
	c.mu.RLock()
	defer c.mu.RUnlock()
	for _, e := range c.idx.bySPIFFEID[id] {
		if e.Admin && !expired(e, now) {
			return true
		}
	}
	return false
}

// Expired returns the IDs of the cached entries that have expired, for pruning.
func (c *Cache) Expired() []string {
	now := c.cfg.Now()
	c.mu.RLock()
	defer c.mu.RUnlock()
	var ids []string
	for id, e := range c.idx.byID {
		if expired(e, now) {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids
}
