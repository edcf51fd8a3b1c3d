package manager

import (
	"fmt"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/spire-api-sdk/proto/spire/api/types"

	"github.com/lanyard-dev/lanyard/agent/cache"
	"github.com/lanyard-dev/lanyard/attestors"
)

// entryFromProto converts an entry received from the server; entries the agent cannot use
// (unparsable IDs) yield an error and are skipped by the caller.
func entryFromProto(e *types.Entry) (*cache.Entry, error) {
	id, err := protoID(e.SpiffeId)
	if err != nil {
		return nil, fmt.Errorf("entry %s spiffe_id: %w", e.Id, err)
	}
	parent, err := protoID(e.ParentId)
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

func protoID(p *types.SPIFFEID) (spiffeid.ID, error) {
	if p == nil {
		return spiffeid.ID{}, fmt.Errorf("missing")
	}
	td, err := spiffeid.TrustDomainFromString(p.TrustDomain)
	if err != nil {
		return spiffeid.ID{}, err
	}
	return spiffeid.FromPath(td, p.Path)
}
