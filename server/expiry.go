package server

import (
	"context"
	"errors"

	"github.com/lanyard-dev/lanyard/server/datastore"
)

// pruneBatch is how many expired entries one delete transaction takes, so pruning a
// large backlog does not hold the datastore's write lock for long.
const pruneBatch = 500

// pruneExpiredEntries deletes the entries that have expired. They grant nothing any more
// (agents get no SVIDs for them and admin entries no admin rights), so keeping them would
// only grow every agent's entry set check and the datastore.
func (s *Server) pruneExpiredEntries(ctx context.Context) error {
	ids := s.entries.Expired()
	if len(ids) == 0 {
		return nil
	}
	pruned := 0
	for start := 0; start < len(ids); start += pruneBatch {
		results, err := s.store.DeleteEntries(ctx, ids[start:min(start+pruneBatch, len(ids))])
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
	s.log.Info("pruned expired entries", "count", pruned)
	return s.entries.Refresh(ctx)
}
