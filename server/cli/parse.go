package cli

import (
	"fmt"
	"strings"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/spire-api-sdk/proto/spire/api/types"
)

// parseID parses a SPIFFE ID given with flag name.
func parseID(flagName, s string) (*types.SPIFFEID, error) {
	id, err := spiffeid.FromString(s)
	if err != nil {
		return nil, fmt.Errorf("%s %q is not a SPIFFE ID (want spiffe://trust.domain/path): %w", flagName, s, err)
	}
	return &types.SPIFFEID{TrustDomain: id.TrustDomain().Name(), Path: id.Path()}, nil
}

// idString renders a proto SPIFFE ID the way users type it.
func idString(id *types.SPIFFEID) string {
	if id == nil {
		return ""
	}
	return "spiffe://" + id.TrustDomain + id.Path
}

// parseTrustDomain accepts a name ("example.org") or an ID ("spiffe://example.org") and
// returns the name, the form the API uses.
func parseTrustDomain(flagName, s string) (string, error) {
	td, err := spiffeid.TrustDomainFromString(s)
	if err != nil {
		return "", fmt.Errorf("%s %q is not a trust domain (want example.org or spiffe://example.org): %w", flagName, s, err)
	}
	return td.Name(), nil
}

func parseTrustDomains(flagName string, list []string) ([]string, error) {
	var out []string
	for _, s := range list {
		td, err := parseTrustDomain(flagName, s)
		if err != nil {
			return nil, err
		}
		out = append(out, td)
	}
	return out, nil
}

// parseSelector splits "type:value" on the first colon only, because values contain
// colons themselves (unix:uid:1000 is type "unix", value "uid:1000").
func parseSelector(s string) (*types.Selector, error) {
	typ, value, ok := strings.Cut(s, ":")
	if !ok || typ == "" || value == "" {
		return nil, fmt.Errorf("-selector %q must look like type:value, e.g. unix:uid:1000", s)
	}
	return &types.Selector{Type: typ, Value: value}, nil
}

func parseSelectors(list []string) ([]*types.Selector, error) {
	var out []*types.Selector
	for _, s := range list {
		sel, err := parseSelector(s)
		if err != nil {
			return nil, err
		}
		out = append(out, sel)
	}
	return out, nil
}

func selectorString(s *types.Selector) string { return s.Type + ":" + s.Value }

var matchNames = "exact, subset, superset or any"

func parseSelectorMatch(flagName, s string) (types.SelectorMatch_MatchBehavior, error) {
	switch s {
	case "exact":
		return types.SelectorMatch_MATCH_EXACT, nil
	case "subset":
		return types.SelectorMatch_MATCH_SUBSET, nil
	case "superset":
		return types.SelectorMatch_MATCH_SUPERSET, nil
	case "any":
		return types.SelectorMatch_MATCH_ANY, nil
	}
	return 0, fmt.Errorf("%s must be %s, not %q", flagName, matchNames, s)
}

func parseFederatesWithMatch(flagName, s string) (types.FederatesWithMatch_MatchBehavior, error) {
	switch s {
	case "exact":
		return types.FederatesWithMatch_MATCH_EXACT, nil
	case "subset":
		return types.FederatesWithMatch_MATCH_SUBSET, nil
	case "superset":
		return types.FederatesWithMatch_MATCH_SUPERSET, nil
	case "any":
		return types.FederatesWithMatch_MATCH_ANY, nil
	}
	return 0, fmt.Errorf("%s must be %s, not %q", flagName, matchNames, s)
}

// seconds checks a TTL flag fits the API's int32 field.
func seconds(flagName string, v int) (int32, error) {
	if v < 0 || v > 1<<31-1 {
		return 0, fmt.Errorf("%s must be a number of seconds between 0 and 2147483647, not %d", flagName, v)
	}
	return int32(v), nil
}

// selectorFilter is the -selector and -matchSelectorsOn flags of a listing command as a
// filter; nil when no selector is given (a bad -matchSelectorsOn is refused even then).
func selectorFilter(selectors []string, matchOn string) (*types.SelectorMatch, error) {
	match, err := parseSelectorMatch("-matchSelectorsOn", matchOn)
	if err != nil || len(selectors) == 0 {
		return nil, err
	}
	parsed, err := parseSelectors(selectors)
	if err != nil {
		return nil, err
	}
	return &types.SelectorMatch{Selectors: parsed, Match: match}, nil
}
