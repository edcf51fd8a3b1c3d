package main

import (
	"context"
	"fmt"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/workloadapi"
)

// restartRecovery is figure 7: the server is killed with SIGKILL, stays down for outage,
// and is started again on the same data; the time from starting the new server process to
// a new entry's SVID arriving on the workload's already-open stream (the entry is created as
// soon as the admin API answers). It is what an operator waits after a crash for changes
// to reach workloads again.
func restartRecovery(ctx context.Context, bin string, d *deployment, updates chan *workloadapi.X509Context, round int, outage time.Duration) (time.Duration, error) {
	restarted, err := d.restart(ctx, bin, outage)
	if err != nil {
		return 0, err
	}
	prefix := fmt.Sprintf("restart%d", round)
	if err := d.createEntries(ctx, d.agentID, prefix, 1, selfUID); err != nil {
		return 0, err
	}
	if err := awaitID(ctx, updates, spiffeid.RequireFromPath(d.td, "/"+prefix+"/0"), 2*time.Minute); err != nil {
		return 0, err
	}
	return time.Since(restarted), nil
}

// restart kills the server with SIGKILL, waits outage, starts it again on the same data
// and waits for its admin API; it returns when the new process was started.
func (d *deployment) restart(ctx context.Context, bin string, outage time.Duration) (time.Time, error) {
	if err := d.kill9(); err != nil {
		return time.Time{}, err
	}
	if err := pauseCtx(ctx, outage); err != nil {
		return time.Time{}, err
	}
	restarted := time.Now()
	if err := d.launch(bin); err != nil {
		return time.Time{}, err
	}
	return restarted, d.awaitAdmin(ctx, 60*time.Second)
}
