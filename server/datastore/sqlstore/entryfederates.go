package sqlstore

import (
	"context"
	"fmt"

	"github.com/lanyard-dev/lanyard/server/datastore"
)

const sqlFederationKnown = `SELECT (SELECT COUNT(*) FROM bundles WHERE trust_domain = ?) +
	(SELECT COUNT(*) FROM federation_relationships WHERE trust_domain = ?)`

// federationCheck refuses federates_with trust domains that have neither a bundle nor a
// federation relationship, as SPIRE does: such an entry would never get the bundle, and
// a misspelt trust domain would go unnoticed. Answers are remembered for one batch.
type federationCheck struct {
	known map[string]bool
}

func (c *federationCheck) check(ctx context.Context, t *txn, tds []string) error {
	for _, td := range tds {
		known, seen := c.known[td]
		if !seen {
			var n int
			if err := t.QueryRowContext(ctx, sqlFederationKnown, td, td).Scan(&n); err != nil {
				return err
			}
			known = n > 0
			if c.known == nil {
				c.known = map[string]bool{}
			}
			c.known[td] = known
		}
		if !known {
			return fmt.Errorf("federates with %q, which has no bundle and no federation relationship: "+
				"create the relationship (federation create) or set the bundle (bundle set) first: %w", td, datastore.ErrConflict)
		}
	}
	return nil
}
