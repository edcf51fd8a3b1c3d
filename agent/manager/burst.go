package manager

import (
	"context"
	"sync"
	"time"

	"github.com/lanyard-dev/lanyard/agent/cache"
)

// mintInFlight is how many batch requests a round keeps open at once. While the server
// signs one batch the agent makes the keys of the next and parses the last, and both
// sides use every core: an agent starting with 100,000 entries waits for the slower of
// the two instead of their sum, one batch after another.
const mintInFlight = 4

// mintBurst mints todo in batches of mintBatch, mintInFlight of them at a time, and hands
// the results to store in a few large updates (see round): what has arrived is handed
// over once it has waited mintFlushEvery, the rest at the end. The first failed request
// cancels those still open and is returned; what arrived before it is stored.
func mintBurst[S any](ctx context.Context, m *minter, todo []*cache.Entry,
	mint func(context.Context, []*cache.Entry) ([]S, error), store func([]S)) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		mu        sync.Mutex
		held      []S
		heldSince time.Time
		failed    error
		wg        sync.WaitGroup
	)
	slots := make(chan struct{}, mintInFlight)
	for len(todo) > 0 {
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		batch := todo[:min(mintBatch, len(todo))]
		todo = todo[len(batch):]
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-slots }()
			out, err := mint(ctx, batch)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				if failed == nil {
					failed = err
					cancel()
				}
				return
			}
			if len(held) == 0 {
				heldSince = m.clock.Now()
			}
			held = append(held, out...)
			if m.clock.Since(heldSince) >= mintFlushEvery {
				store(held)
				held = nil
			}
		}()
	}
	wg.Wait()
	if len(held) > 0 {
		store(held)
	}
	if failed == nil {
		failed = ctx.Err()
	}
	return failed
}
