package datastore

import (
	"fmt"
	"slices"
	"strings"

	"github.com/lanyard-dev/lanyard/attestors"
)

// MatchSelectors reports whether a record (entry or agent) with the given selectors passes the
// filter m. A filter with no selectors does not filter. A record with no selectors never matches
// a non-empty filter, even in MatchSubset mode: an empty set is a subset of everything, but a
// record without selectors must never be handed to every workload. Backends must agree with
// this function; it is the reference they are tested against.
func MatchSelectors(record []attestors.Selector, m SelectorMatch) bool {
	return matchSet(selectorKeys(record), selectorKeys(m.Selectors), m.Match)
}

// MatchFederatesWith reports whether an entry federating with record passes the filter m,
// with the same rules as MatchSelectors.
func MatchFederatesWith(record []string, m FederatesWithMatch) bool {
	return matchSet(record, m.TrustDomains, m.Match)
}

// ValidMatchBehavior returns an error naming the bad value when m is not one of the four modes.
func ValidMatchBehavior(m MatchBehavior) error {
	if m < MatchExact || m > MatchAny {
		return fmt.Errorf("unknown match behavior %d: use MatchExact, MatchSubset, MatchSuperset or MatchAny", m)
	}
	return nil
}

// SortSelectors returns the distinct selectors of s ordered by type then value, so that equal
// sets compare equal element by element. s is not modified.
func SortSelectors(s []attestors.Selector) []attestors.Selector {
	out := slices.Clone(s)
	slices.SortFunc(out, CompareSelectors)
	return slices.Compact(out)
}

// CompareSelectors orders selectors by type, then value.
func CompareSelectors(a, b attestors.Selector) int {
	if c := strings.Compare(a.Type, b.Type); c != 0 {
		return c
	}
	return strings.Compare(a.Value, b.Value)
}

func selectorKeys(s []attestors.Selector) []string {
	keys := make([]string, len(s))
	for i, sel := range s {
		// A NUL cannot appear in a selector type, so the key is unambiguous.
		keys[i] = sel.Type + "\x00" + sel.Value
	}
	return keys
}

func matchSet(record, filter []string, m MatchBehavior) bool {
	if len(filter) == 0 {
		return true
	}
	if len(record) == 0 {
		return false
	}
	inFilter := make(map[string]bool, len(filter))
	for _, f := range filter {
		inFilter[f] = true
	}
	inRecord := make(map[string]bool, len(record))
	shared := 0
	for _, r := range record {
		if inRecord[r] {
			continue
		}
		inRecord[r] = true
		if inFilter[r] {
			shared++
		}
	}
	switch m {
	case MatchExact:
		return shared == len(inRecord) && shared == len(inFilter)
	case MatchSubset:
		return shared == len(inRecord)
	case MatchSuperset:
		return shared == len(inFilter)
	case MatchAny:
		return shared > 0
	default:
		return false
	}
}
