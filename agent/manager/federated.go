package manager

import (
	"context"
	"fmt"
	"maps"
	"slices"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	bundlev1 "github.com/spiffe/spire-api-sdk/proto/spire/api/server/bundle/v1"
	"github.com/spiffe/spire-api-sdk/proto/spire/api/types"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/lanyard-dev/lanyard/agent/client"
)

// pollFederated fetches the bundles of the trust domains the entries federate with, as
// SPIRE agents do against servers without the push stream (which carries them itself). A
// trust domain the server has no bundle for is dropped, so a deleted federation reaches
// workloads on the next poll.
func (m *Manager) pollFederated(ctx context.Context, c *client.Client, entries []*types.Entry) error {
	tds := map[string]struct{}{}
	for _, e := range entries {
		for _, name := range e.FederatesWith {
			if td, err := spiffeid.TrustDomainFromString(name); err == nil {
				tds[td.Name()] = struct{}{}
			}
		}
	}
	var bundles []*types.Bundle
	for _, td := range slices.Sorted(maps.Keys(tds)) {
		b, err := c.Bundle.GetFederatedBundle(ctx, &bundlev1.GetFederatedBundleRequest{TrustDomain: td})
		if status.Code(err) == codes.NotFound {
			continue
		}
		if err != nil {
			return fmt.Errorf("fetching the federated bundle of %s: %w", td, err)
		}
		bundles = append(bundles, b)
	}
	m.setFederated(bundles)
	return nil
}
