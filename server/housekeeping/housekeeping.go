// Package housekeeping prunes what the datastore no longer needs: expired join tokens,
// expired entries and entry events older than an hour, once a minute.
package housekeeping

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"k8s.io/utils/clock"

	"github.com/lanyard-dev/lanyard/server/datastore"
)

// pruneBatch is how many expired entries one delete transaction takes, so pruning a
// large backlog does not hold the datastore's write lock for long.
const pruneBatch = 500

// Store is what housekeeping deletes from.
type Store interface {
	PruneJoinTokens(ctx context.Context, expiredBefore time.Time) error
	DeleteEntries(ctx context.Context, ids []string) ([]datastore.EntryResult, error)
	PruneEntryEvents(ctx context.Context, before time.Time) error
}

// Entries is the entry cache: it knows which entries expired without a query.
type Entries interface {
	Expired() []string
	Refresh(ctx context.Context) error
}

// Config configures housekeeping.
type Config struct {
	Store   Store
	Entries Entries
	Clock   clock.WithTicker
	Log     *slog.Logger
}

// Run prunes once a minute until ctx ends. Failures are logged and retried next minute.
func Run(ctx context.Context, cfg Config) error {
	t := cfg.Clock.NewTicker(time.Minute)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C():
		}
		now := cfg.Clock.Now()
		if err := cfg.Store.PruneJoinTokens(ctx, now); err != nil && ctx.Err() == nil {
			cfg.Log.Warn("pruning join tokens", "error", err)
		}
		if err := pruneExpiredEntries(ctx, cfg); err != nil && ctx.Err() == nil {
			cfg.Log.Warn("pruning expired entries", "error", err)
		}
		if err := cfg.Store.PruneEntryEvents(ctx, now.Add(-time.Hour)); err != nil && ctx.Err() == nil {
			cfg.Log.Warn("pruning entry events", "error", err)
		}
	}
}

// pruneExpiredEntries deletes the entries that have expired. They grant nothing any more
// (agents get no SVIDs for them and admin entries no admin rights), so keeping them would
// only grow every agent's entry set check and the datastore.
func pruneExpiredEntries(ctx context.Context, cfg Config) error {
	ids := cfg.Entries.Expired()
	if len(ids) == 0 {
		return nil
	}
	pruned := 0
	for start := 0; start < len(ids); start += pruneBatch {
		results, err := cfg.Store.DeleteEntries(ctx, ids[start:min(start+pruneBatch, len(ids))])
		if err != nil {
			return err
		}
		for _, r := range results {
			switch {
			case r.Err == nil:
				pruned++
			case errors.Is(r.Err, datastore.ErrNotFound):
				// Another server sharing the datastore pruned it first.
			default:
				return r.Err
			}
		}
	}
	cfg.Log.Info("pruned expired entries", "count", pruned)
	return cfg.Entries.Refresh(ctx)
}
