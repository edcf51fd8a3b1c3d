package entry

import (
	"github.com/spiffe/spire-api-sdk/proto/spire/api/types"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/lanyard-dev/lanyard/internal/spireid"
	"github.com/lanyard-dev/lanyard/server/api"
	"github.com/lanyard-dev/lanyard/server/datastore"
)

func (s *Service) filter(bySPIFFEID, byParentID *types.SPIFFEID, bySelectors *types.SelectorMatch,
	byFederatesWith *types.FederatesWithMatch, byHint *wrapperspb.StringValue, byDownstream *wrapperspb.BoolValue,
) (datastore.EntryFilter, error) {
	var f datastore.EntryFilter
	if bySPIFFEID != nil {
		id, err := spireid.FromProto(bySPIFFEID)
		if err != nil {
			return f, api.Invalid("filter by_spiffe_id: %v", err)
		}
		f.BySPIFFEID = id.String()
	}
	if byParentID != nil {
		id, err := spireid.FromProto(byParentID)
		if err != nil {
			return f, api.Invalid("filter by_parent_id: %v", err)
		}
		f.ByParentID = id.String()
	}
	if bySelectors != nil {
		sels, err := api.ValidateSelectors(bySelectors.Selectors)
		if err != nil {
			return f, api.Invalid("filter by_selectors: %v", err)
		}
		m, err := matchBehavior(int32(bySelectors.Match))
		if err != nil {
			return f, err
		}
		f.BySelectors = &datastore.SelectorMatch{Selectors: sels, Match: m}
	}
	if byFederatesWith != nil {
		if len(byFederatesWith.TrustDomains) == 0 {
			return f, api.Invalid("filter by_federates_with: at least one trust domain is required")
		}
		tds := make([]string, len(byFederatesWith.TrustDomains))
		for i, td := range byFederatesWith.TrustDomains {
			name, err := api.TrustDomainName(td)
			if err != nil {
				return f, api.Invalid("filter by_federates_with: %v", err)
			}
			tds[i] = name
		}
		m, err := matchBehavior(int32(byFederatesWith.Match))
		if err != nil {
			return f, err
		}
		f.ByFederatesWith = &datastore.FederatesWithMatch{TrustDomains: tds, Match: m}
	}
	if byHint != nil {
		h := byHint.Value
		f.ByHint = &h
	}
	if byDownstream != nil {
		d := byDownstream.Value
		f.ByDownstream = &d
	}
	return f, nil
}

// matchBehavior maps the API enum; SelectorMatch and FederatesWithMatch number it alike.
func matchBehavior(m int32) (datastore.MatchBehavior, error) {
	switch types.SelectorMatch_MatchBehavior(m) {
	case types.SelectorMatch_MATCH_EXACT:
		return datastore.MatchExact, nil
	case types.SelectorMatch_MATCH_SUBSET:
		return datastore.MatchSubset, nil
	case types.SelectorMatch_MATCH_SUPERSET:
		return datastore.MatchSuperset, nil
	case types.SelectorMatch_MATCH_ANY:
		return datastore.MatchAny, nil
	}
	return 0, api.Invalid("unknown match behavior %d (use exact, subset, superset or any)", m)
}
