// Package spireid holds the SPIFFE ID shapes SPIRE gives its own servers and agents, which
// Lanyard keeps so that entries, tools and authorization policies migrate unchanged.
package spireid

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/spire-api-sdk/proto/spire/api/types"
)

// ServerPath is the path of the ID every server of a trust domain presents.
const ServerPath = "/spire/server"

// agentPrefix starts the path of every agent ID: /spire/agent/<attestor>/<node>.
const agentPrefix = "/spire/agent/"

// Server is spiffe://TD/spire/server, the ID agents expect of the server they talk to and
// the parent of entries that are not under an agent.
func Server(td spiffeid.TrustDomain) spiffeid.ID {
	return spiffeid.RequireFromPath(td, ServerPath)
}

// IsAgent reports whether id is an agent ID of the trust domain (spiffe://TD/spire/agent/...).
func IsAgent(td spiffeid.TrustDomain, id spiffeid.ID) bool {
	return id.MemberOf(td) && strings.HasPrefix(id.Path(), agentPrefix)
}

// FromProto parses an ID in spire-api-sdk's form ({trust_domain, path}); the error says
// which half is wrong.
func FromProto(p *types.SPIFFEID) (spiffeid.ID, error) {
	if p == nil {
		return spiffeid.ID{}, errors.New("missing SPIFFE ID")
	}
	td, err := spiffeid.TrustDomainFromString(p.TrustDomain)
	if err != nil {
		return spiffeid.ID{}, fmt.Errorf("trust domain %q: %w", p.TrustDomain, err)
	}
	id, err := spiffeid.FromPath(td, p.Path)
	if err != nil {
		return spiffeid.ID{}, fmt.Errorf("path %q: %w", p.Path, err)
	}
	return id, nil
}

// ToProto converts an ID to spire-api-sdk's form.
func ToProto(id spiffeid.ID) *types.SPIFFEID {
	return &types.SPIFFEID{TrustDomain: id.TrustDomain().Name(), Path: id.Path()}
}
