package datastore

import (
	"slices"
	"testing"

	"github.com/lanyard-dev/lanyard/attestors"
)

func sels(kv ...string) []attestors.Selector {
	var out []attestors.Selector
	for i := 0; i+1 < len(kv); i += 2 {
		out = append(out, attestors.Selector{Type: kv[i], Value: kv[i+1]})
	}
	return out
}

func TestMatchSelectors(t *testing.T) {
	ab := sels("unix", "uid:0", "unix", "gid:0")
	tests := map[string]struct {
		record []attestors.Selector
		filter SelectorMatch
		want   bool
	}{
		"an empty filter lets every record through": {
			record: ab, filter: SelectorMatch{Match: MatchExact}, want: true,
		},
		"exact matches the same set in another order": {
			record: ab, filter: SelectorMatch{Selectors: sels("unix", "gid:0", "unix", "uid:0"), Match: MatchExact}, want: true,
		},
		"exact rejects a strict subset": {
			record: ab, filter: SelectorMatch{Selectors: sels("unix", "uid:0"), Match: MatchExact}, want: false,
		},
		"exact ignores duplicates in the filter": {
			record: ab, filter: SelectorMatch{Selectors: sels("unix", "uid:0", "unix", "uid:0", "unix", "gid:0"), Match: MatchExact}, want: true,
		},
		"subset matches a record whose selectors the workload all has": {
			record: ab, filter: SelectorMatch{Selectors: sels("unix", "uid:0", "unix", "gid:0", "k8s", "ns:x"), Match: MatchSubset}, want: true,
		},
		"subset rejects a record needing a selector the workload lacks": {
			record: ab, filter: SelectorMatch{Selectors: sels("unix", "uid:0"), Match: MatchSubset}, want: false,
		},
		"subset never matches a record without selectors": {
			record: nil, filter: SelectorMatch{Selectors: sels("unix", "uid:0"), Match: MatchSubset}, want: false,
		},
		"superset matches a record having every filter selector": {
			record: ab, filter: SelectorMatch{Selectors: sels("unix", "uid:0"), Match: MatchSuperset}, want: true,
		},
		"superset rejects a record missing one filter selector": {
			record: ab, filter: SelectorMatch{Selectors: sels("unix", "uid:0", "k8s", "ns:x"), Match: MatchSuperset}, want: false,
		},
		"any matches one shared selector": {
			record: ab, filter: SelectorMatch{Selectors: sels("k8s", "ns:x", "unix", "gid:0"), Match: MatchAny}, want: true,
		},
		"any rejects disjoint sets": {
			record: ab, filter: SelectorMatch{Selectors: sels("k8s", "ns:x"), Match: MatchAny}, want: false,
		},
		"type and value are compared separately, not as a joined string": {
			record: sels("a:b", "c"), filter: SelectorMatch{Selectors: sels("a", "b:c"), Match: MatchAny}, want: false,
		},
		"an unknown match behavior matches nothing": {
			record: ab, filter: SelectorMatch{Selectors: ab, Match: MatchBehavior(9)}, want: false,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := MatchSelectors(tc.record, tc.filter); got != tc.want {
				t.Fatalf("MatchSelectors = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestMatchFederatesWith(t *testing.T) {
	rec := []string{"a.org", "b.org"}
	tests := map[string]struct {
		filter FederatesWithMatch
		want   bool
	}{
		"exact matches the same trust domains":   {FederatesWithMatch{[]string{"b.org", "a.org"}, MatchExact}, true},
		"subset needs all record domains":        {FederatesWithMatch{[]string{"a.org"}, MatchSubset}, false},
		"superset needs all filter domains":      {FederatesWithMatch{[]string{"a.org"}, MatchSuperset}, true},
		"any needs one shared domain":            {FederatesWithMatch{[]string{"c.org", "b.org"}, MatchAny}, true},
		"an empty filter does not filter at all": {FederatesWithMatch{nil, MatchSuperset}, true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := MatchFederatesWith(rec, tc.filter); got != tc.want {
				t.Fatalf("MatchFederatesWith = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestSortSelectorsOrdersAndDedupesWithoutTouchingInput(t *testing.T) {
	in := sels("unix", "uid:1", "k8s", "ns:a", "unix", "uid:1", "unix", "gid:0")
	orig := slices.Clone(in)
	got := SortSelectors(in)
	want := sels("k8s", "ns:a", "unix", "gid:0", "unix", "uid:1")
	if !slices.Equal(got, want) {
		t.Fatalf("SortSelectors = %v, want %v", got, want)
	}
	if !slices.Equal(in, orig) {
		t.Fatalf("SortSelectors modified its input: %v", in)
	}
	if err := ValidMatchBehavior(MatchBehavior(7)); err == nil {
		t.Fatal("ValidMatchBehavior(7) = nil, want an error")
	}
}
