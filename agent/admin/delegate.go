package admin

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/spire-api-sdk/proto/spire/api/types"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"k8s.io/utils/clock"

	"github.com/lanyard-dev/lanyard/agent/cache"
	"github.com/lanyard-dev/lanyard/agent/peer"
	"github.com/lanyard-dev/lanyard/attestors"
	"github.com/lanyard-dev/lanyard/internal/pause"
)

// attestTimeout bounds attesting one caller or one workload PID.
const attestTimeout = 10 * time.Second

var errNotDelegate = status.Error(codes.PermissionDenied,
	"caller is not an authorized delegate: it holds no SVID from this agent naming one of the agent's authorized_delegates")

// delegation decides who may act for workloads: a caller on the admin socket is a
// delegate while the agent's cache gives it an unexpired SVID naming one of the
// authorized_delegates. Admin and downstream entries are never delegated.
type delegation struct {
	ids       map[spiffeid.ID]bool
	cache     *cache.Cache
	attestors []attestors.WorkloadAttestor
	clk       clock.Clock
	log       *slog.Logger
}

// delegate is an authorized caller.
type delegate struct {
	info      *peer.AuthInfo
	selectors []attestors.Selector
	id        spiffeid.ID // the authorized ID it holds
}

// authorize attests the caller from its socket credentials and checks that it is a
// delegate now. Anyone else gets PermissionDenied.
func (d *delegation) authorize(ctx context.Context) (*delegate, error) {
	info, ok := peer.FromContext(ctx)
	if !ok {
		return nil, errNotDelegate
	}
	if len(d.ids) == 0 {
		d.log.Warn("Delegated Identity API call refused: no authorized_delegates are configured", "pid", info.PID, "uid", info.UID)
		return nil, errNotDelegate
	}
	sels, err := d.attest(ctx, info.PID)
	if err != nil {
		return nil, err
	}
	if err := info.Check(); err != nil {
		return nil, status.Errorf(codes.PermissionDenied, "caller process %d exited during attestation: %v", info.PID, err)
	}
	id, _, ok := d.authorized(d.cache.Match(sels))
	if !ok {
		d.log.Warn("Delegated Identity API call refused: the caller holds no authorized delegate's SVID", "pid", info.PID, "uid", info.UID)
		return nil, errNotDelegate
	}
	d.log.Debug("delegate authorized", "pid", info.PID, "delegate_id", id.String())
	return &delegate{info: info, selectors: sels, id: id}, nil
}

// attest runs the workload attestors on pid.
func (d *delegation) attest(ctx context.Context, pid int32) ([]attestors.Selector, error) {
	ctx, cancel := context.WithTimeout(ctx, attestTimeout)
	defer cancel()
	sels, err := attestors.AttestAll(ctx, d.attestors, pid)
	if err != nil {
		d.log.Warn("attesting a process for the Delegated Identity API failed", "pid", pid, "error", err)
		if ctx.Err() != nil {
			return nil, status.Errorf(codes.Unavailable, "attesting process %d timed out: %v", pid, err)
		}
		return nil, status.Errorf(codes.Unavailable, "attesting process %d failed: %v", pid, err)
	}
	return sels, nil
}

// authorized returns an authorized delegate ID among the update's SVIDs (all unexpired:
// the cache serves no other) and when the last of those SVIDs expires.
func (d *delegation) authorized(u *cache.WorkloadUpdate) (spiffeid.ID, time.Time, bool) {
	var id spiffeid.ID
	var until time.Time
	for _, w := range u.Identities {
		if d.ids[w.SVID.ID] && w.SVID.ExpiresAt.After(until) {
			id, until = w.SVID.ID, w.SVID.ExpiresAt
		}
	}
	return id, until, !id.IsZero()
}

// follow ends ctx (through lost) once the delegate stops being one: its authorizing
// entry is removed or changed, or its SVIDs expire without renewal. It returns when ctx
// ends.
func (d *delegation) follow(ctx context.Context, dg *delegate, lost context.CancelCauseFunc) {
	sub := d.cache.Subscribe(dg.selectors)
	defer sub.Close()
	stopExpiry := func() {}
	defer func() { stopExpiry() }()
	for {
		u, err := sub.Next(ctx)
		if err != nil {
			return
		}
		_, until, ok := d.authorized(u)
		if !ok {
			d.log.Info("ending a delegate's streams: it no longer holds an authorized delegate's SVID", "pid", dg.info.PID, "delegate_id", dg.id.String())
			lost(status.Error(codes.PermissionDenied, "caller is no longer an authorized delegate: its SVID naming "+dg.id.String()+" was removed or expired"))
			return
		}
		stopExpiry()
		stopExpiry = pause.AfterFunc(d.clk, until.Sub(d.clk.Now()), sub.Refresh)
	}
}

// workload returns the selectors of the workload a request names: the selectors given,
// or those the agent attests for the PID given (pinned until the returned Process is
// closed; nil for selectors). Exactly one of them must be set.
func (d *delegation) workload(ctx context.Context, sels []attestors.Selector, pid int32) ([]attestors.Selector, *peer.Process, error) {
	switch {
	case len(sels) > 0 && pid != 0:
		return nil, nil, status.Error(codes.InvalidArgument, "give either selectors or pid, not both")
	case len(sels) > 0:
		return sels, nil, nil
	case pid <= 0:
		return nil, nil, status.Error(codes.InvalidArgument, "give the workload's selectors or its pid (a positive process ID)")
	}
	proc, err := peer.Pin(pid)
	if errors.Is(err, peer.ErrExited) {
		return nil, nil, status.Errorf(codes.NotFound, "no process %d on this node (in the agent's PID namespace)", pid)
	}
	if err != nil {
		return nil, nil, status.Errorf(codes.Internal, "pinning process %d: %v", pid, err)
	}
	attested, err := d.attest(ctx, pid)
	if err == nil {
		err = proc.Check()
		if err != nil {
			err = status.Errorf(codes.NotFound, "process %d exited during attestation", pid)
		}
	}
	if err != nil {
		proc.Close()
		return nil, nil, err
	}
	return attested, proc, nil
}

// delegable returns the identities of u a delegate may have: not admin, not downstream,
// not expired at now.
func delegable(u *cache.WorkloadUpdate, now time.Time) []cache.Identity {
	return slices.DeleteFunc(slices.Clone(u.Identities), func(w cache.Identity) bool {
		return w.Entry.Admin || w.Entry.Downstream || !now.Before(w.SVID.ExpiresAt)
	})
}

func selectorsFromProto(in []*types.Selector) ([]attestors.Selector, error) {
	out := make([]attestors.Selector, 0, len(in))
	for i, s := range in {
		if s.GetType() == "" || s.GetValue() == "" {
			return nil, status.Errorf(codes.InvalidArgument, "selectors[%d]: type and value are required, e.g. unix:uid:1000", i)
		}
		out = append(out, attestors.Selector{Type: s.GetType(), Value: s.GetValue()})
	}
	return out, nil
}
