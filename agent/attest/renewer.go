package attest

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/lanyard-dev/lanyard/agent/client"
	"github.com/lanyard-dev/lanyard/internal/renew"
)

// Waits between failed renewals (renew.Backoff): short enough to renew soon after an
// outage, long enough not to mint an SVID per second for an agent whose data_dir cannot
// be written. Once the SVID expired, a node that can attest again waits at most
// expiredRetryMax: it is back as soon as the server answers.
const (
	renewRetryMin   = time.Second
	renewRetryMax   = 30 * time.Second
	expiredRetryMax = 5 * time.Second
)

// Renewer keeps the agent SVID current: it renews it at half its lifetime (renew.HalfLife),
// or at once when a tainted authority signed it, and moves the agent to a new connection
// that presents it.
type Renewer struct {
	id   *Identity
	conn *client.Current
	now  chan struct{} // Tainted → Run

	mu sync.Mutex
	// needsToken is set when the agent SVID expired and the node attestor cannot prove
	// the node again by itself (join_token): only an operator can bring the agent back.
	needsToken string
	// refused is the server's last refusal to attest this node again (its evidence
	// expired or is no longer trusted), "" once attestation succeeds.
	refused string
}

// NewRenewer renews id's SVID, replacing conn's connection with each new one.
func NewRenewer(id *Identity, conn *client.Current) *Renewer {
	return &Renewer{id: id, conn: conn, now: make(chan struct{}, 1)}
}

// Run renews the agent SVID until ctx ends. A failed renewal is retried and the current
// SVID kept; an expired one does not stop the agent: workloads keep getting the cached
// SVIDs that are still valid.
func (r *Renewer) Run(ctx context.Context) error {
	clk, log := r.id.cfg.Clock, r.id.cfg.Log
	backoff := renew.NewBackoff(renewRetryMin, renewRetryMax)
	retry := time.Duration(0)
	for {
		leaf := r.id.TLS.SVID()
		at := renew.HalfLife(leaf.NotBefore, leaf.NotAfter)
		if retry > 0 {
			at = clk.Now().Add(retry)
		}
		if !r.wait(ctx, at.Sub(clk.Now())) {
			return nil
		}
		err := r.renewOnce(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if err == nil {
			retry = 0
			backoff.Reset()
			r.noteRefusal(nil)
			log.Info("agent SVID renewed", "expires_at", r.id.TLS.SVID().NotAfter)
			continue
		}
		retry = backoff.Next()
		r.noteRefusal(err)
		if clk.Now().Before(leaf.NotAfter) {
			log.Warn("renewing agent SVID failed; keeping the current one and retrying", "error", err,
				"retry_in", retry.String(), "expires_at", leaf.NotAfter)
			continue
		}
		if !Reattestable(r.id.cfg.Agent) {
			r.expiredForGood(leaf.NotAfter, err)
			<-ctx.Done()
			return nil
		}
		retry = min(retry, expiredRetryMax)
		log.Warn("agent SVID expired; attesting again when the server answers", "error", err, "retry_in", retry.String())
	}
}

// wait waits for d, or less when the agent SVID must be replaced at once; false when ctx
// ended.
func (r *Renewer) wait(ctx context.Context, d time.Duration) bool {
	t := r.id.cfg.Clock.NewTimer(max(d, 0))
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C():
	case <-r.now:
	}
	return true
}

// Tainted renews the agent SVID at once when one of the tainted authorities (subject key
// IDs) signed its chain: once the operator revokes that authority the server would refuse
// the agent's connections.
func (r *Renewer) Tainted(tainted map[string]bool) {
	if !slices.ContainsFunc(r.id.TLS.SVIDChain(), func(der []byte) bool {
		c, err := x509.ParseCertificate(der)
		return err == nil && tainted[string(c.AuthorityKeyId)]
	}) {
		return
	}
	r.id.cfg.Log.Info("a tainted authority signed the agent SVID; renewing it now")
	select {
	case r.now <- struct{}{}:
	default:
	}
}

// expiredForGood records that only an operator can bring this agent back.
func (r *Renewer) expiredForGood(at time.Time, err error) {
	msg := fmt.Sprintf("agent SVID expired at %s and a join_token agent cannot attest again by itself: "+
		"set a new join_token (lanyard-server token generate) in the agent config and restart the agent; "+
		"until then cached SVIDs are served while they are valid", at.UTC().Format(time.RFC3339))
	r.mu.Lock()
	r.needsToken = msg
	r.mu.Unlock()
	r.id.cfg.Log.Error(msg, "error", err)
}

// renewOnce gets a new agent SVID, saves it durably and only then starts using it: an SVID
// the agent cannot save would be lost at the next restart, and the server retires the old
// one as soon as the new one is used.
func (r *Renewer) renewOnce(ctx context.Context) error {
	rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	res, err := r.renew(rctx)
	cancel()
	if err != nil {
		return err
	}
	if err := r.id.state.SaveSVID(res.Chain, res.Key); err != nil {
		return fmt.Errorf("saving the renewed agent SVID in data_dir %s (make it writable; the current SVID stays in use): %w", r.id.cfg.Agent.DataDir, err)
	}
	// New connections present the new SVID; the manager moves its entry stream to one
	// before the old connection is closed.
	r.id.TLS.SetSVID(res.Chain, res.Key)
	c, err := r.id.Dial()
	if err != nil {
		return err
	}
	r.conn.Replace(c)
	r.mu.Lock()
	r.needsToken = ""
	r.mu.Unlock()
	return nil
}

// renew gets a fresh agent SVID: by attesting again when the node attestor allows it
// (the server then re-checks the node, as SPIRE does), else by renewal.
func (r *Renewer) renew(ctx context.Context) (*Result, error) {
	c := r.conn.Get()
	if !Reattestable(r.id.cfg.Agent) {
		return Renew(ctx, c.Agent, r.id.ID)
	}
	prover, err := NodeProver(r.id.cfg.Agent)
	if err != nil {
		return nil, err
	}
	res, err := Attest(ctx, c.Agent, prover)
	if err != nil {
		return nil, fmt.Errorf("re-attesting: %w", err)
	}
	if res.ID != r.id.ID {
		return nil, fmt.Errorf("re-attestation gave agent ID %s, want %s: the node's evidence now names another agent "+
			"(an x509pop node certificate renewed on disk has a new fingerprint: name agents by a field that stays, "+
			"with the server's agent_path_template, or delete data_dir's agent SVID and restart)", res.ID, r.id.ID)
	}
	return res, nil
}

// Ready is the agent's /readyz: why it is not ready, or nil.
func (r *Renewer) Ready(context.Context) error {
	r.mu.Lock()
	msg := r.needsToken
	r.mu.Unlock()
	if msg != "" {
		return errors.New(msg)
	}
	if leaf := r.id.TLS.SVID(); leaf == nil || !r.id.cfg.Clock.Now().Before(leaf.NotAfter) {
		r.mu.Lock()
		refused := r.refused
		r.mu.Unlock()
		if refused != "" {
			return errors.New("agent SVID expired and the server refuses to attest this node again: " + refused)
		}
		return errors.New("agent SVID expired; attesting again when the server answers")
	}
	return nil
}

// noteRefusal records the server refusing to attest this node again (err is
// PermissionDenied: its evidence expired or is no longer trusted) and says so once, as an
// error: retrying will not help until an operator fixes the node or the server. nil (a
// success) forgets it.
func (r *Renewer) noteRefusal(err error) {
	msg := ""
	if err != nil {
		if !Reattestable(r.id.cfg.Agent) || status.Code(err) != codes.PermissionDenied {
			return // an outage says nothing new about the node
		}
		msg = err.Error()
		var st interface{ GRPCStatus() *status.Status }
		if errors.As(err, &st) {
			msg = st.GRPCStatus().Message()
		}
	}
	r.mu.Lock()
	changed := msg != r.refused
	r.refused = msg
	r.mu.Unlock()
	if changed && msg != "" {
		r.id.cfg.Log.Error("the server refuses to attest this node again: renew the node's credentials or fix the server's "+
			"node attestor configuration; the agent keeps its current SVID until it expires and keeps retrying", "reason", msg)
	}
}
