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

// minter turns queued entries into X.509-SVIDs, many per request. Queuing an entry that
// is already queued replaces it, so a burst of changes costs one SVID.
type minter struct {
	client  func() *client.Client
	log     *slog.Logger
	deliver func(*cache.Entry, *cache.X509SVID) bool
	cache   interface{ UpdateSVIDs([]*cache.X509SVID) }
	clock   clock.Clock

	mu      sync.Mutex
	pending map[string]*cache.Entry
	order   []string
	kick    chan struct{}
}

func newMinter(c func() *client.Client, log *slog.Logger, deliver func(*cache.Entry, *cache.X509SVID) bool, clk clock.Clock) *minter {
	return &minter{client: c, log: log, deliver: deliver, clock: clk, pending: map[string]*cache.Entry{}, kick: make(chan struct{}, 1)}
}

func (m *minter) enqueue(entries ...*cache.Entry) {
	if len(entries) == 0 {
		return
	}
	m.mu.Lock()
	for _, e := range entries {
		if _, ok := m.pending[e.ID]; !ok {
			m.order = append(m.order, e.ID)
		}
		m.pending[e.ID] = e
	}
	m.mu.Unlock()
	select {
	case m.kick <- struct{}{}:
	default:
	}
}

// take removes up to n queued entries, oldest first.
func (m *minter) take(n int) []*cache.Entry {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []*cache.Entry
	for len(out) < n && len(m.order) > 0 {
		id := m.order[0]
		m.order = m.order[1:]
		if e, ok := m.pending[id]; ok {
			delete(m.pending, id)
			out = append(out, e)
		}
	}
	return out
}

func (m *minter) run(ctx context.Context) error {
	backoff := renew.NewBackoff(backoffMin, backoffMax)
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-m.kick:
		}
		// A burst (thousands of entries at start, or a tainted CA) is handed to the cache
		// in a few large updates rather than one per batch: every update makes the
		// Workload API resend all of a workload's SVIDs, which for a workload holding
		// thousands costs more than minting them.
		var held []*cache.X509SVID
		var heldSince time.Time
		flush := func() {
			if len(held) > 0 {
				m.cache.UpdateSVIDs(held)
				held = nil
			}
		}
		for {
			batch := m.take(mintBatch)
			if len(batch) == 0 {
				flush()
				break
			}
			out, err := m.mint(ctx, batch)
			if len(held) == 0 {
				heldSince = m.clock.Now()
			}
			held = append(held, out...)
			if err != nil || m.clock.Since(heldSince) >= mintFlushEvery {
				flush()
			}
			if err != nil {
				m.enqueue(batch...)
				if ctx.Err() != nil {
					return nil
				}
				if rejected(err) {
					return errors.Join(ErrRejected, err)
				}
				first := backoff.FirstFailure()
				d := backoff.Next()
				if first {
					m.log.Warn("minting SVIDs failed; will retry", "count", len(batch), "error", err, "retry_in", d.String())
				} else {
					m.log.Debug("minting SVIDs failed again", "count", len(batch), "error", err, "retry_in", d.String())
				}
				if !pause.For(ctx, m.clock, d) {
					return nil
				}
				continue
			}
			backoff.Reset()
		}
	}
}

// mint asks for one batch and returns the SVIDs to store. Per-entry refusals (e.g. the
// entry was deleted meanwhile) are logged and dropped; a failed request is returned so
// the whole batch is retried.
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
			m.log.Warn("server refused an SVID", "entry_id", e.ID, "status", r.Status.GetMessage())
			continue
		}
		svid, err := toSVID(e, r.Svid.CertChain, keys[i])
		if err != nil {
			m.log.Error("server returned an unusable SVID", "entry_id", e.ID, "error", err)
			continue
		}
		if m.deliver(e, svid) {
			out = append(out, svid)
		}
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
	return cache.NewX509SVID(e.ID, id, chain, key, e.Hint)
}
