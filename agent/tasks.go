package agent

import (
	"context"
	"fmt"
	"sync"
)

// task is one long-running part of the agent.
type task struct {
	name string
	run  func(context.Context) error
}

// runTasks runs every task until ctx ends or one of them fails, and returns that failure
// (named after its task) or nil.
//
// Shutdown is ordered: the front tasks (the Workload API, admin and health endpoints) stop
// accepting and end their streams first, so that workloads are told nothing false while
// the rest winds down; then the back tasks (the manager, renewal). runTasks returns only
// when every task has returned, so the caller may close the server connections then.
func runTasks(ctx context.Context, back, front []task) error {
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	serveCtx, stopServing := context.WithCancel(context.Background())
	defer stopServing()
	errc := make(chan error, len(back)+len(front))
	var frontWG, backWG sync.WaitGroup
	spawn := func(wg *sync.WaitGroup, runCtx context.Context, t task) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := t.run(runCtx); err != nil && ctx.Err() == nil {
				errc <- fmt.Errorf("%s: %w", t.name, err)
				stop()
			}
		}()
	}
	for _, t := range back {
		spawn(&backWG, ctx, t)
	}
	for _, t := range front {
		spawn(&frontWG, serveCtx, t)
	}
	<-ctx.Done()
	stopServing()
	frontWG.Wait()
	backWG.Wait()
	select {
	case err := <-errc:
		return err
	default:
		return nil
	}
}
