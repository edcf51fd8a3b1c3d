package federation

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/lanyard-dev/lanyard/server/datastore"
)

// Seed is a relationship from the configuration file, with the partner's bundle to start
// from (https_spiffe needs one to authenticate the first fetch).
type Seed struct {
	Relationship datastore.FederationRelationship
	// Bootstrap is stored only when no bundle of the trust domain is stored yet, so a
	// restart never replaces a fresher fetched bundle with the file's. May be nil.
	Bootstrap *datastore.Bundle
}

// ApplySeeds writes the configured relationships to the datastore: created when absent,
// updated when they differ. The configuration wins over what the API stored for the same
// trust domain.
func ApplySeeds(ctx context.Context, store Store, seeds []Seed, log *slog.Logger) error {
	for _, s := range seeds {
		rel := s.Relationship
		var boot *datastore.Bundle
		if s.Bootstrap != nil {
			_, err := store.GetBundle(ctx, rel.TrustDomain)
			switch {
			case errors.Is(err, datastore.ErrNotFound):
				boot = s.Bootstrap
			case err != nil:
				return fmt.Errorf("federation with %s: %w", rel.TrustDomain, err)
			}
		}
		cur, err := store.GetFederationRelationship(ctx, rel.TrustDomain)
		done := ""
		switch {
		case errors.Is(err, datastore.ErrNotFound):
			_, err = store.CreateFederationRelationship(ctx, &rel, boot)
			done = "created"
		case err != nil:
		case !sameEndpoint(*cur, rel) || boot != nil:
			_, err = store.UpdateFederationRelationship(ctx, &rel, datastore.FederationRelationshipMask{BundleEndpointURL: true, Profile: true}, boot)
			done = "updated"
		}
		if err != nil {
			return fmt.Errorf("federation with %s: %w", rel.TrustDomain, err)
		}
		if done != "" {
			log.Info("federation relationship "+done+" from config", "trust_domain", rel.TrustDomain, "bootstrap_bundle", boot != nil)
		}
	}
	return nil
}
