// Package manager keeps an agent's cache current: it follows the server's push stream of
// authorized entries and bundles (or polls a server without it) into the cache, and mints
// in batches the X.509-SVIDs the cache says are missing or stale (cache.Due), retrying
// the ones the server refuses. While the server is unreachable the cache keeps serving
// what it has; the manager reconnects with backoff.
package manager

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/spiffe/go-spiffe/v2/bundle/spiffebundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	agentv1 "github.com/spiffe/spire-api-sdk/proto/spire/api/server/agent/v1"
	svidv1 "github.com/spiffe/spire-api-sdk/proto/spire/api/server/svid/v1"
	"github.com/spiffe/spire-api-sdk/proto/spire/api/types"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"k8s.io/utils/clock"

	"github.com/lanyard-dev/lanyard/agent/cache"
	"github.com/lanyard-dev/lanyard/agent/client"
	"github.com/lanyard-dev/lanyard/internal/bundleconv"
	"github.com/lanyard-dev/lanyard/internal/pause"
	"github.com/lanyard-dev/lanyard/internal/renew"
)

// ErrRejected is returned by Run when the server refuses the agent itself (evicted or
// banned): carrying on would only serve identities that are about to expire.
var ErrRejected = errors.New("server rejected this agent")

// Config configures a Manager.
type Config struct {
	TrustDomain spiffeid.TrustDomain
	// Client returns the current server connection; it changes when the agent SVID is
	// renewed, and then Switched receives.
	Client func() *client.Client
	// Switched receives when Client returns a connection with a renewed agent SVID. The
	// entry stream moves to it without a gap: the new stream is opened while the old one
	// still runs, and the old one is given up when the new one delivers. Nil: never.
	Switched <-chan struct{}
	Cache    *cache.Cache
	// OnBundle is called with every new own-trust-domain bundle (to trust it for TLS and save it).
	OnBundle func(*spiffebundle.Bundle)
	// OnHandover is called once the entry stream runs on the connection Client returns,
	// so that the agent can close the connections it replaced.
	OnHandover func()
	Log        *slog.Logger
	// Clock drives rotation, retries and polling. Default the real clock.
	Clock clock.WithTicker
	// PollInterval is the GetAuthorizedEntries interval used only against servers without
	// the push stream (SPIRE). Default 5s.
	PollInterval time.Duration
	// NoWIT turns WIT-SVID minting off (workload_api.wit_svids: false).
	NoWIT bool
	// OnTainted, when set, is called with the subject key IDs (raw bytes as strings) of
	// the X.509 authorities a new bundle marks tainted, so that the agent can replace its
	// own SVID if one of them signed it.
	OnTainted func(tainted map[string]bool)
	// AgentVersion, when set, is reported to the server (PostStatus) each time the entry
	// stream connects, so that `agent list` shows which release each node runs.
	AgentVersion string
}

// Manager keeps the cache in sync with the server.
type Manager struct {
	cfg    Config
	minter *minter
	jwt    *cache.JWTCache
	synced syncState
}

// New returns a manager.
func New(cfg Config) *Manager {
	if cfg.Clock == nil {
		cfg.Clock = clock.RealClock{}
	}
	if cfg.OnHandover == nil {
		cfg.OnHandover = func() {}
	}
	if cfg.PollInterval == 0 {
		cfg.PollInterval = 5 * time.Second
	}
	m := &Manager{cfg: cfg, synced: syncState{clock: cfg.Clock}}
	m.minter = newMinter(cfg.Client, cfg.Log, cfg.Cache, cfg.Clock)
	m.minter.noWIT = cfg.NoWIT
	m.jwt = cache.NewJWTCache(m.mintJWT, cfg.Clock)
	return m
}

// LastSync returns when the agent last held the server's current entries: now while it
// follows the server's push stream (or polls succeed), else when that ended; zero if the
// server has delivered nothing since Run began.
func (m *Manager) LastSync() time.Time { return m.synced.at() }

// JWTCache serves JWT-SVIDs to the Workload API, minting through the server on demand.
func (m *Manager) JWTCache() *cache.JWTCache { return m.jwt }

// Run follows the server until ctx ends or the server rejects the agent. It returns
// only after every goroutine it started, including JWT-SVID mints in flight, has ended;
// the JWT cache serves no more tokens afterwards.
func (m *Manager) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, 2)
	go func() { errc <- m.minter.run(ctx) }()
	go func() { errc <- m.syncLoop(ctx) }()
	var first error
	for range 2 {
		if err := <-errc; err != nil && first == nil {
			first = err
			cancel()
		}
	}
	m.jwt.Close()
	return first
}

func (m *Manager) syncLoop(ctx context.Context) error {
	backoff := renew.NewBackoff(backoffMin, backoffMax)
	var lostAt time.Time
	for ctx.Err() == nil {
		delivered := func() {
			m.synced.delivered()
			backoff.Reset()
			if !lostAt.IsZero() {
				m.cfg.Log.Info("the server's entry stream is back", "after", m.cfg.Clock.Since(lostAt).Round(time.Millisecond).String())
				lostAt = time.Time{}
			}
		}
		reported := false
		deliveredAndReported := func() {
			delivered()
			if !reported {
				reported = true
				m.postStatus(ctx)
			}
		}
		err := m.watch(ctx, deliveredAndReported)
		if status.Code(err) == codes.Unimplemented {
			err = m.poll(ctx, deliveredAndReported)
		}
		m.synced.lost()
		if ctx.Err() != nil {
			return nil
		}
		if rejected(err) {
			return errors.Join(ErrRejected, err)
		}
		d := backoff.Next()
		if lostAt.IsZero() {
			lostAt = m.cfg.Clock.Now()
			m.cfg.Log.Warn("lost the server's entry stream; serving cached SVIDs and retrying", "error", err, "retry_in", d.String())
		} else {
			m.cfg.Log.Debug("the server's entry stream is still unavailable", "error", err, "retry_in", d.String())
		}
		if !pause.For(ctx, m.cfg.Clock, d) {
			return nil
		}
	}
	return nil
}

// postStatus reports the agent's version; a server that cannot record it is no reason to
// stop, so failures are only logged.
func (m *Manager) postStatus(ctx context.Context) {
	if m.cfg.AgentVersion == "" {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	_, err := m.cfg.Client().Agent.PostStatus(ctx, &agentv1.PostStatusRequest{AgentVersion: m.cfg.AgentVersion})
	if err != nil && status.Code(err) != codes.Unimplemented {
		m.cfg.Log.Debug("reporting the agent's version to the server", "error", err)
	}
}

// poll is the fallback for servers without the push stream.
func (m *Manager) poll(ctx context.Context, delivered func()) error {
	m.cfg.Log.Info("server has no entry push stream; polling authorized entries", "interval", m.cfg.PollInterval.String())
	var last *client.Client
	for {
		c := m.cfg.Client()
		b, err := c.Bundle.GetBundle(ctx, nil)
		if err != nil {
			return err
		}
		m.setBundle(b)
		resp, err := c.Entry.GetAuthorizedEntries(ctx, nil)
		if err != nil {
			return err
		}
		delivered()
		if last != nil && last != c {
			m.cfg.OnHandover()
		}
		last = c
		m.apply(resp.Entries, nil, true)
		if err := m.pollFederated(ctx, c, resp.Entries); err != nil {
			return err
		}
		if !pause.For(ctx, m.cfg.Clock, m.cfg.PollInterval) {
			return ctx.Err()
		}
	}
}

// apply updates the cache's entries and starts a minting round for the SVIDs that are
// now due (new entries, changed ones).
func (m *Manager) apply(upserted []*types.Entry, deleted []string, full bool) {
	entries := make([]*cache.Entry, 0, len(upserted))
	for _, pe := range upserted {
		e, err := entryFromProto(pe)
		if err != nil {
			m.cfg.Log.Warn("skipping unusable entry from server", "error", err)
			continue
		}
		entries = append(entries, e)
	}
	m.cfg.Cache.UpdateEntries(entries, deleted, full)
	m.minter.wake()
}

func (m *Manager) setBundle(pb *types.Bundle) {
	b, err := bundleconv.ToSPIFFE(pb)
	if err != nil {
		m.cfg.Log.Error("server sent an unusable bundle; keeping the previous one", "error", err)
		return
	}
	if b.TrustDomain() != m.cfg.TrustDomain {
		m.cfg.Log.Error("server sent a bundle for another trust domain; ignoring it", "trust_domain", b.TrustDomain().Name())
		return
	}
	m.cfg.Cache.SetBundle(b)
	if m.cfg.OnBundle != nil {
		m.cfg.OnBundle(b)
	}
	m.replaceTainted(pb)
}

func (m *Manager) setFederated(pbs []*types.Bundle) {
	out := make(map[spiffeid.TrustDomain]*spiffebundle.Bundle, len(pbs))
	for _, pb := range pbs {
		b, err := bundleconv.ToSPIFFE(pb)
		if err != nil {
			m.cfg.Log.Warn("skipping unusable federated bundle", "error", err)
			continue
		}
		out[b.TrustDomain()] = b
	}
	m.cfg.Cache.SetFederatedBundles(out)
}

func (m *Manager) mintJWT(ctx context.Context, entryID string, audience []string) (string, time.Time, error) {
	resp, err := m.cfg.Client().SVID.NewJWTSVID(ctx, &svidv1.NewJWTSVIDRequest{EntryId: entryID, Audience: audience})
	if err != nil {
		return "", time.Time{}, err
	}
	return resp.Svid.Token, time.Unix(resp.Svid.ExpiresAt, 0), nil
}

// rejected reports whether err says the agent itself is no longer welcome.
func rejected(err error) bool {
	st, ok := status.FromError(err)
	if !ok || st.Code() != codes.PermissionDenied {
		return false
	}
	for _, d := range st.Details() {
		if pd, ok := d.(*types.PermissionDeniedDetails); ok {
			switch pd.Reason {
			case types.PermissionDeniedDetails_AGENT_BANNED, types.PermissionDeniedDetails_AGENT_NOT_ATTESTED,
				types.PermissionDeniedDetails_AGENT_NOT_ACTIVE, types.PermissionDeniedDetails_AGENT_EXPIRED,
				types.PermissionDeniedDetails_AGENT_MUST_REATTEST:
				return true
			}
		}
	}
	return false
}

// The manager's retries (entry stream, minting) start at 100ms and stay within 1s: a
// server that is down refuses connections at once, and one that is back must see its
// agents within about a second.
const (
	backoffMin = 100 * time.Millisecond
	backoffMax = time.Second
)
