package manager

import (
	"fmt"

	"github.com/spiffe/spire-api-sdk/proto/spire/api/types"

	"github.com/lanyard-dev/lanyard/agent/cache"
	"github.com/lanyard-dev/lanyard/attestors"
	"github.com/lanyard-dev/lanyard/internal/spireid"
)

// entryFromProto converts an entry received from the server; entries the agent cannot use
// (unparsable IDs) yield an error and are skipped by the caller.
func entryFromProto(e *types.Entry) (*cache.Entry, error) {
	id, err := spireid.FromProto(e.SpiffeId)
	if err != nil {
		return nil, fmt.Errorf("entry %s spiffe_id: %w", e.Id, err)
	}
	parent, err := spireid.FromProto(e.ParentId)
	if err != nil {
		return nil, fmt.Errorf("entry %s parent_id: %w", e.Id, err)
	}
	sels := make([]attestors.Selector, len(e.Selectors))
	for i, s := range e.Selectors {
		sels[i] = attestors.Selector{Type: s.Type, Value: s.Value}
	}
	return &cache.Entry{
		ID: e.Id, SPIFFEID: id.String(), ParentID: parent.String(), Selectors: sels,
		FederatesWith: e.FederatesWith, Hint: e.Hint, RevisionNumber: e.RevisionNumber,
		X509SVIDTTL: e.X509SvidTtl, JWTSVIDTTL: e.JwtSvidTtl, Admin: e.Admin, Downstream: e.Downstream,
		DNSNames: e.DnsNames, ExpiresAt: e.ExpiresAt,
	}, nil
}
