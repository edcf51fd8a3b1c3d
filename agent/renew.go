package agent

import (
	"context"
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/lanyard-dev/lanyard/agent/attest"
	"github.com/lanyard-dev/lanyard/agent/client"
	"github.com/lanyard-dev/lanyard/internal/renew"
)

// Waits between failed renewals: short enough to renew soon after an outage, long enough
// not to mint an SVID per second for an agent whose data_dir cannot be written.
const (
	renewRetryMin = time.Second
	renewRetryMax = 30 * time.Second
)

// renewLoop renews the agent SVID at half its lifetime. A failed renewal is retried and
// the current SVID kept; an expired one does not stop the agent: workloads keep getting
// the cached SVIDs that are still valid.
func (a *Agent) renewLoop(ctx context.Context) error {
	retry := time.Duration(0)
	for {
		leaf := a.identity.SVID()
		at := renew.HalfLife(leaf.NotBefore, leaf.NotAfter)
		if retry > 0 {
			at = a.clock.Now().Add(retry)
		}
		if !a.waitRenewal(ctx, at.Sub(a.clock.Now())) {
			return nil
		}
		err := a.renewOnce(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if err == nil {
			retry = 0
			a.log.Info("agent SVID renewed", "expires_at", a.identity.SVID().NotAfter)
			continue
		}
		retry = min(max(retry*2, renewRetryMin), renewRetryMax)
		if a.clock.Now().Before(leaf.NotAfter) {
			a.log.Warn("renewing agent SVID failed; keeping the current one and retrying", "error", err,
				"retry_in", retry.String(), "expires_at", leaf.NotAfter)
			continue
		}
		if !a.reattestable() {
			a.expiredForGood(leaf.NotAfter, err)
			<-ctx.Done()
			return nil
		}
		retry = min(retry, 5*time.Second) // the node can attest again as soon as the server answers
		a.log.Warn("agent SVID expired; attesting again when the server answers", "error", err, "retry_in", retry.String())
	}
}

// waitRenewal waits for d, or less when the agent SVID must be replaced at once; false
// when ctx ended.
func (a *Agent) waitRenewal(ctx context.Context, d time.Duration) bool {
	t := a.clock.NewTimer(max(d, 0))
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C():
	case <-a.renewNow:
	}
	return true
}

// onTainted renews the agent SVID at once when a tainted authority signed its chain: once
// the operator revokes that authority the server would refuse the agent's connections.
func (a *Agent) onTainted(tainted map[string]bool) {
	if !slices.ContainsFunc(a.identity.SVIDChain(), func(der []byte) bool {
		c, err := x509.ParseCertificate(der)
		return err == nil && tainted[string(c.AuthorityKeyId)]
	}) {
		return
	}
	a.log.Info("a tainted authority signed the agent SVID; renewing it now")
	select {
	case a.renewNow <- struct{}{}:
	default:
	}
}

// expiredForGood records that only an operator can bring this agent back.
func (a *Agent) expiredForGood(at time.Time, err error) {
	msg := fmt.Sprintf("agent SVID expired at %s and a join_token agent cannot attest again by itself: "+
		"set a new join_token (lanyard-server token generate) in the agent config and restart the agent; "+
		"until then cached SVIDs are served while they are valid", at.UTC().Format(time.RFC3339))
	a.mu.Lock()
	a.needsToken = msg
	a.mu.Unlock()
	a.log.Error(msg, "error", err)
}

// renewOnce gets a new agent SVID, saves it durably and only then starts using it: an SVID
// the agent cannot save would be lost at the next restart, and the server retires the old
// one as soon as the new one is used.
func (a *Agent) renewOnce(ctx context.Context) error {
	rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	res, err := a.renew(rctx)
	cancel()
	if err != nil {
		return err
	}
	if err := a.state.SaveSVID(res.Chain, res.Key); err != nil {
		return fmt.Errorf("saving the renewed agent SVID in data_dir %s (make it writable; the current SVID stays in use): %w", a.cfg.DataDir, err)
	}
	return a.switchSVID(res.Chain, res.Key)
}

// renew gets a fresh agent SVID: by attesting again when the node attestor allows it
// (the server then re-checks the node, as SPIRE does), else by renewal.
func (a *Agent) renew(ctx context.Context) (*attest.Result, error) {
	if !a.reattestable() {
		return attest.Renew(ctx, a.client.Load().Agent, a.agentID)
	}
	prover, err := a.nodeProver()
	if err != nil {
		return nil, err
	}
	res, err := attest.Attest(ctx, a.client.Load().Agent, prover)
	if err != nil {
		return nil, fmt.Errorf("re-attesting: %w", err)
	}
	if res.ID != a.agentID {
		return nil, fmt.Errorf("re-attestation gave agent ID %s, want %s (did the node change?)", res.ID, a.agentID)
	}
	return res, nil
}

// switchSVID moves to a renewed SVID: new connections present it, and the manager moves
// its entry stream to a new connection before the old one is closed.
func (a *Agent) switchSVID(chain []*x509.Certificate, key crypto.Signer) error {
	a.identity.SetSVID(chain, key)
	c, err := client.Dial(a.cfg.ServerAddrs(), a.identity)
	if err != nil {
		return err
	}
	old := a.client.Swap(c)
	a.mu.Lock()
	a.retired = append(a.retired, old)
	a.needsToken = ""
	a.mu.Unlock()
	a.mgr.ClientChanged()
	return nil
}

// ready is the agent's /readyz: why it is not ready, or nil.
func (a *Agent) ready(context.Context) error {
	if msg := a.notReady(); msg != "" {
		return errors.New(msg)
	}
	return nil
}

// notReady says why the agent is not ready, or "" when it is.
func (a *Agent) notReady() string {
	a.mu.Lock()
	msg := a.needsToken
	a.mu.Unlock()
	if msg != "" {
		return msg
	}
	if leaf := a.identity.SVID(); leaf == nil || !a.clock.Now().Before(leaf.NotAfter) {
		return "agent SVID expired; attesting again when the server answers"
	}
	return ""
}
