package main

import (
	"context"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/spiffe/go-spiffe/v2/workloadapi"
	localauthorityv1 "github.com/spiffe/spire-api-sdk/proto/spire/api/server/localauthority/v1"
)

// forcedRotation is figure 8: with n SVIDs held by one workload on an open stream, the
// time from tainting the CA that signed them to the first update on that stream in which
// all n come from the new CA.
func forcedRotation(ctx context.Context, d *deployment, n int) (time.Duration, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	c, err := d.workloadClient(ctx)
	if err != nil {
		return 0, err
	}
	updates := make(chan *workloadapi.X509Context, 1024)
	go func() {
		defer c.Close()
		_ = c.WatchX509Context(ctx, x509Watcher{updates})
	}()
	signedBy := func(u *workloadapi.X509Context, ca string) int {
		k := 0
		for _, s := range u.SVIDs {
			if hex.EncodeToString(s.Certificates[0].AuthorityKeyId) == ca {
				k++
			}
		}
		return k
	}
	la := localauthorityv1.NewLocalAuthorityClient(d.admin)
	state, err := la.GetX509AuthorityState(ctx, &localauthorityv1.GetX509AuthorityStateRequest{})
	if err != nil {
		return 0, err
	}
	old := state.Active.AuthorityId
	if err := awaitUpdate(ctx, updates, time.Minute, func(u *workloadapi.X509Context) bool { return signedBy(u, old) == n }); err != nil {
		return 0, fmt.Errorf("waiting for the workload's %d SVIDs: %w", n, err)
	}
	prep, err := la.PrepareX509Authority(ctx, &localauthorityv1.PrepareX509AuthorityRequest{})
	if err != nil {
		return 0, err
	}
	next := prep.PreparedAuthority.AuthorityId
	if _, err := la.ActivateX509Authority(ctx, &localauthorityv1.ActivateX509AuthorityRequest{AuthorityId: next}); err != nil {
		return 0, err
	}
	start := time.Now()
	if _, err := la.TaintX509Authority(ctx, &localauthorityv1.TaintX509AuthorityRequest{AuthorityId: old}); err != nil {
		return 0, err
	}
	if err := awaitUpdate(ctx, updates, 5*time.Minute, func(u *workloadapi.X509Context) bool { return signedBy(u, next) == n }); err != nil {
		return 0, fmt.Errorf("waiting for %d SVIDs from the new CA: %w", n, err)
	}
	return time.Since(start), nil
}

// runForced measures only figure 8, on a fresh server and agent per size and run.
func runForced(ctx context.Context, o options) (*results, error) {
	rec := newRecorder()
	for run := 0; run < o.runs; run++ {
		for _, n := range o.sizes {
			progress("forced rotation, run %d/%d, %d SVIDs", run+1, o.runs, n)
			if err := forcedRound(ctx, o, rec, n); err != nil {
				return nil, fmt.Errorf("forced rotation with %d SVIDs: %w", n, err)
			}
		}
	}
	return &results{Date: time.Now().UTC().Format(time.RFC3339), Machine: describeMachine(), Sizes: o.sizes,
		Runs: o.runs, Figures: rec.finish()}, nil
}

func forcedRound(ctx context.Context, o options, rec *recorder, n int) error {
	d, err := deploy(ctx, o.bin, true)
	if err != nil {
		return err
	}
	defer d.close()
	if err := d.createEntries(ctx, d.agentID, "big", n, selfUID); err != nil {
		return err
	}
	if err := d.waitSVIDs(ctx, n); err != nil {
		return err
	}
	return recordForced(ctx, rec, d, n)
}

func recordForced(ctx context.Context, rec *recorder, d *deployment, n int) error {
	took, err := forcedRotation(ctx, d, n)
	if err != nil {
		return fmt.Errorf("forced rotation: %w", err)
	}
	rec.add(fmt.Sprintf("8. forced rotation: taint → all %d SVIDs of one workload from the new CA on its open stream", n), "s",
		target(n == 10000, "< 10 s"), took.Seconds())
	return nil
}

// awaitUpdate waits for an update on the stream that satisfies ok.
func awaitUpdate(ctx context.Context, updates chan *workloadapi.X509Context, within time.Duration, ok func(*workloadapi.X509Context) bool) error {
	timeout := time.After(within)
	for {
		select {
		case u := <-updates:
			if ok(u) {
				return nil
			}
		case <-timeout:
			return fmt.Errorf("not within %s", within)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
