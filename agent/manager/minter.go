package manager

import (
	"context"
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	svidv1 "github.com/spiffe/spire-api-sdk/proto/spire/api/server/svid/v1"
	"google.golang.org/grpc/codes"
	"k8s.io/utils/clock"

	"github.com/lanyard-dev/lanyard/agent/attest"
	"github.com/lanyard-dev/lanyard/agent/cache"
	"github.com/lanyard-dev/lanyard/agent/client"
	"github.com/lanyard-dev/lanyard/internal/pause"
	"github.com/lanyard-dev/lanyard/internal/renew"
)

// mintBatch is how many SVIDs one BatchNewX509SVID asks for (the server's limit is 500).
const mintBatch = 500

// mintFlushEvery bounds how long minted SVIDs wait for the rest of a burst before they
// are handed to the cache.
const mintFlushEvery = 5 * time.Second

// An SVID the server refuses (or returns unusable) is asked for again after a wait that
// starts at a second and stays within a minute: soon enough that a refusal the operator
// fixes (or a transient one) costs workloads little, rare enough that an entry the server
// keeps refusing costs it one request a minute.
const (
	refusedRetryMin = time.Second
	refusedRetryMax = time.Minute
)

// svidStore is the cache as the minter uses it: it says which SVIDs are due and takes
// the new ones.
type svidStore interface {
	Due(now time.Time) []*cache.Entry
	Tainted(*cache.X509SVID) bool
	UpdateSVIDs([]*cache.X509SVID)
	DueWIT(now time.Time) []*cache.Entry
	TaintedWIT(*cache.WITSVID) bool
	UpdateWITSVIDs([]*cache.WITSVID)
	WITWanted() <-chan struct{}
	SetWITMinting(on bool)
}

// minter mints, many per request, the X.509-SVIDs and WIT-SVIDs the cache says are due.
// It works in rounds: at every tick of its clock (each second), whenever kicked (entries
// or the tainted authorities changed) and when a workload first asks for WIT-SVIDs
// (cache.WITWanted) it asks the cache for the due entries and mints them.
type minter struct {
	client func() *client.Client
	log    *slog.Logger
	store  svidStore
	clock  clock.WithTicker
	kick   chan struct{}
	// refused holds the entries whose last SVID the server refused, with when to ask
	// again; witRefused the same for WIT-SVIDs. The batches of a round in flight update
	// them under refusedMu.
	refusedMu           sync.Mutex
	refused, witRefused map[string]*refusal
	// noWIT: the agent does not serve WIT-SVIDs, so none are minted.
	noWIT bool
	// witUnsupportedUntil is when to ask again a server that does not implement
	// BatchNewWITSVID (a SPIRE server, or an older Lanyard).
	witUnsupportedUntil time.Time
}

type refusal struct {
	at      time.Time
	backoff *renew.Backoff
}

func newMinter(c func() *client.Client, log *slog.Logger, store svidStore, clk clock.WithTicker) *minter {
	return &minter{client: c, log: log, store: store, clock: clk, kick: make(chan struct{}, 1),
		refused: map[string]*refusal{}, witRefused: map[string]*refusal{}}
}

// wake starts a round soon, without waiting for the next tick.
func (m *minter) wake() {
	select {
	case m.kick <- struct{}{}:
	default:
	}
}

func (m *minter) run(ctx context.Context) error {
	t := m.clock.NewTicker(time.Second)
	defer t.Stop()
	backoff := renew.NewBackoff(backoffMin, backoffMax)
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-m.kick:
		case <-m.store.WITWanted():
		case <-t.C():
		}
		err := m.round(ctx)
		if err == nil {
			backoff.Reset()
			continue
		}
		if ctx.Err() != nil {
			return nil
		}
		if rejected(err) {
			return errors.Join(ErrRejected, err)
		}
		first := backoff.FirstFailure()
		d := backoff.Next()
		if first {
			m.log.Warn("minting SVIDs failed; will retry", "error", err, "retry_in", d.String())
		} else {
			m.log.Debug("minting SVIDs failed again", "error", err, "retry_in", d.String())
		}
		if !pause.For(ctx, m.clock, d) {
			return nil
		}
		m.wake() // retry at once, not at the next tick
	}
}

// round mints every due SVID that is not waiting after a refusal. A burst (thousands of
// entries at start, or a tainted CA) is handed to the cache in a few large updates rather
// than one per batch: every update makes the Workload API resend all of a workload's
// SVIDs, which for a workload holding thousands costs more than minting them. A failed
// request ends the round; what it minted before is kept.
func (m *minter) round(ctx context.Context) error {
	if err := m.roundX509(ctx); err != nil {
		return err
	}
	return m.roundWIT(ctx)
}

// todo returns the due entries that are not waiting after a refusal, and forgets the
// refusals of entries no longer due.
func (m *minter) todo(due []*cache.Entry, refused map[string]*refusal, now time.Time) []*cache.Entry {
	todo := due[:0:0]
	for _, e := range due {
		if r, ok := refused[e.ID]; !ok || !now.Before(r.at) {
			todo = append(todo, e)
		}
	}
	forgetRefusals(refused, due)
	return todo
}

func (m *minter) roundX509(ctx context.Context) error {
	now := m.clock.Now()
	return mintBurst(ctx, m, m.todo(m.store.Due(now), m.refused, now), m.mint, m.store.UpdateSVIDs)
}

// forgetRefusals drops the refusals of entries no longer due: they got an SVID, or are gone.
func forgetRefusals(refused map[string]*refusal, due []*cache.Entry) {
	if len(refused) == 0 {
		return
	}
	still := make(map[string]bool, len(due))
	for _, e := range due {
		still[e.ID] = true
	}
	for id := range refused {
		if !still[id] {
			delete(refused, id)
		}
	}
}

// refuse schedules the next request for an entry whose X.509-SVID the server refused, and
// logs the first refusal of a run of them as a warning.
func (m *minter) refuse(e *cache.Entry, msg string, args ...any) {
	m.refuseIn(m.refused, e, msg, args...)
}

// refuseIn is refuse for the refusals in refused.
func (m *minter) refuseIn(refused map[string]*refusal, e *cache.Entry, msg string, args ...any) {
	m.refusedMu.Lock()
	defer m.refusedMu.Unlock()
	r, ok := refused[e.ID]
	if !ok {
		r = &refusal{backoff: renew.NewBackoff(refusedRetryMin, refusedRetryMax)}
		refused[e.ID] = r
	}
	level := slog.LevelDebug
	if r.backoff.FirstFailure() {
		level = slog.LevelWarn
	}
	d := r.backoff.Next()
	r.at = m.clock.Now().Add(d)
	m.log.Log(context.Background(), level, msg, append(args, "entry_id", e.ID, "retry_in", d.String())...)
}

// accepted forgets a refusal of e: the server signed it.
func (m *minter) accepted(refused map[string]*refusal, e *cache.Entry) {
	m.refusedMu.Lock()
	defer m.refusedMu.Unlock()
	delete(refused, e.ID)
}

// mint asks for one batch and returns the SVIDs to store. Per-entry refusals (the server's
// status for one item, or an SVID the agent cannot use) are retried after a backoff; a
// failed request is returned, and the round ends.
func (m *minter) mint(ctx context.Context, batch []*cache.Entry) ([]*cache.X509SVID, error) {
	keys := make([]crypto.Signer, len(batch))
	req := &svidv1.BatchNewX509SVIDRequest{Params: make([]*svidv1.NewX509SVIDParams, len(batch))}
	for i, e := range batch {
		id, err := spiffeid.FromString(e.SPIFFEID)
		if err != nil {
			return nil, fmt.Errorf("entry %s: %w", e.ID, err)
		}
		key, csr, err := attest.NewKeyAndCSR(id)
		if err != nil {
			return nil, err
		}
		keys[i] = key
		req.Params[i] = &svidv1.NewX509SVIDParams{EntryId: e.ID, Csr: csr}
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	c := m.client()
	resp, err := c.SVID.BatchNewX509SVID(ctx, req)
	if err != nil && m.client() != c {
		// The agent SVID was renewed meanwhile and the server may have retired the old
		// one: retry on the new connection rather than take this for a rejection.
		return nil, fmt.Errorf("minting on a replaced connection: %v", err)
	}
	if err != nil {
		return nil, err
	}
	if len(resp.Results) != len(batch) {
		return nil, fmt.Errorf("server answered %d results for %d requests", len(resp.Results), len(batch))
	}
	out := make([]*cache.X509SVID, 0, len(batch))
	for i, r := range resp.Results {
		e := batch[i]
		if r.Status == nil || codes.Code(r.Status.Code) != codes.OK || r.Svid == nil {
			m.refuse(e, "server refused an SVID; asking again later", "code", codes.Code(r.Status.GetCode()).String(), "status", r.Status.GetMessage())
			continue
		}
		svid, err := toSVID(e, r.Svid.CertChain, keys[i])
		if err != nil {
			m.refuse(e, "server returned an unusable SVID; asking again later", "error", err)
			continue
		}
		out = append(out, svid)
		if m.store.Tainted(svid) {
			// Due again at once: without a wait the agent would ask every second for as
			// long as the server signs with an authority it has tainted.
			m.refuse(e, "server signed an SVID with a tainted authority; asking again later")
			continue
		}
		m.accepted(m.refused, e)
	}
	return out, nil
}

func toSVID(e *cache.Entry, ders [][]byte, key crypto.Signer) (*cache.X509SVID, error) {
	if len(ders) == 0 {
		return nil, fmt.Errorf("empty certificate chain")
	}
	chain := make([]*x509.Certificate, len(ders))
	for i, der := range ders {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return nil, err
		}
		chain[i] = c
	}
	id, err := spiffeid.FromString(e.SPIFFEID)
	if err != nil {
		return nil, err
	}
	if len(chain[0].URIs) != 1 || chain[0].URIs[0].String() != id.String() {
		return nil, fmt.Errorf("certificate does not name %s", id)
	}
	s, err := cache.NewX509SVID(e.ID, id, chain, key, e.Hint)
	if err != nil {
		return nil, err
	}
	s.Revision = e.RevisionNumber
	return s, nil
}
