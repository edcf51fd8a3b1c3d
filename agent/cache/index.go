package cache

import (
	"cmp"
	"slices"
	"strings"

	"github.com/lanyard-dev/lanyard/attestors"
)

// selectorIndex files each entry under exactly one of its selectors, the one with the
// fewest entries at the time. A workload can only match an entry if it has that
// selector, so matching looks at the entries filed under the workload's selectors and
// checks each one's remaining selectors: work proportional to the candidates, not to the
// whole entry set. Filing under the rarest selector keeps common ones (unix:uid:0) from
// collecting every entry.
type selectorIndex map[attestors.Selector][]*record

func (ix selectorIndex) add(r *record) {
	best := r.sels[0]
	for _, s := range r.sels[1:] {
		if len(ix[s]) < len(ix[best]) {
			best = s
		}
	}
	r.key, r.pos = best, len(ix[best])
	ix[best] = append(ix[best], r)
}

func (ix selectorIndex) remove(r *record) {
	list := ix[r.key]
	if r.pos >= len(list) || list[r.pos] != r {
		return // never filed (no selectors)
	}
	// Order within a bucket does not matter, so swap-delete in O(1).
	last := len(list) - 1
	list[r.pos] = list[last]
	list[r.pos].pos = r.pos
	list[last] = nil
	if last == 0 {
		delete(ix, r.key)
	} else {
		ix[r.key] = list[:last]
	}
}

// within reports whether all of the record's selectors are in set.
func (r *record) within(set map[attestors.Selector]struct{}) bool {
	for _, s := range r.sels {
		if _, ok := set[s]; !ok {
			return false
		}
	}
	return true
}

func selectorSet(sels []attestors.Selector) map[attestors.Selector]struct{} {
	set := make(map[attestors.Selector]struct{}, len(sels))
	for _, s := range sels {
		set[s] = struct{}{}
	}
	return set
}

func distinctSorted(sels []attestors.Selector) []attestors.Selector {
	out := slices.Clone(sels)
	slices.SortFunc(out, func(a, b attestors.Selector) int {
		return cmp.Or(strings.Compare(a.Type, b.Type), strings.Compare(a.Value, b.Value))
	})
	return slices.Compact(out)
}
