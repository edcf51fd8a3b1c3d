package k8stest

import (
	"slices"
	"testing"

	"github.com/lanyard-dev/lanyard/attestors"
)

// SameSelectors fails t unless got holds exactly want (as "type:value"), in any order.
func SameSelectors(t testing.TB, got []attestors.Selector, want []string) {
	t.Helper()
	var s []string
	for _, sel := range got {
		s = append(s, sel.String())
	}
	slices.Sort(s)
	want = slices.Clone(want)
	slices.Sort(want)
	if !slices.Equal(s, want) {
		t.Fatalf("selectors:\n got %q\nwant %q", s, want)
	}
}
