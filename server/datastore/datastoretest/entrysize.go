package datastoretest

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"

	"github.com/lanyard-dev/lanyard/attestors"
	"github.com/lanyard-dev/lanyard/server/datastore"
)

// noise returns n bytes of hex that do not compress, as real IDs and image digests do not.
func noise(seed string, n int) string {
	var b strings.Builder
	for h := sha256.Sum256([]byte(seed)); b.Len() < n; h = sha256.Sum256(h[:]) {
		b.WriteString(hex.EncodeToString(h[:]))
	}
	return b.String()[:n]
}

// bigEntry has IDs of the longest size the SPIFFE spec allows (2048 bytes) and 64 selectors
// of about 100 bytes, far beyond what one database index entry holds (PostgreSQL: ~2.7 kB).
func bigEntry(suffix string) *datastore.Entry {
	long := func(prefix string) string { return td + prefix + noise(prefix, 2048-len(td)-len(prefix)) }
	e := &datastore.Entry{SPIFFEID: long("/w" + suffix + "/"), ParentID: long("/spire/agent/" + suffix + "/")}
	for i := range 64 {
		e.Selectors = append(e.Selectors, attestors.Selector{Type: "k8s", Value: fmt.Sprintf("pod-label:%03d:%s", i, noise(fmt.Sprint(i), 90))})
	}
	return e
}

var entrySizeTests = map[string]func(t *testing.T, open Opener){
	"entries with the longest IDs and many selectors are stored, found and kept unique": func(t *testing.T, open Opener) {
		s := open(t)
		a, b := create(t, s, bigEntry("a"))[0], create(t, s, bigEntry("b"))[0]
		sameEntry(t, mustGetEntry(t, s, a.ID), a)
		if a.ID == b.ID {
			t.Fatal("two different entries got one ID")
		}
		res, err := s.CreateEntries(t.Context(), []*datastore.Entry{bigEntry("a")})
		if err != nil {
			t.Fatal(err)
		}
		wantErr(t, res[0].Err, datastore.ErrAlreadyExists)
		if res[0].Entry == nil || res[0].Entry.ID != a.ID {
			t.Fatalf("the duplicate's result names %v, want the existing entry %s", res[0].Entry, a.ID)
		}
		got, _, err := s.ListEntries(t.Context(), datastore.EntryFilter{ByParentID: b.ParentID,
			BySelectors: &datastore.SelectorMatch{Selectors: b.Selectors, Match: datastore.MatchExact}}, datastore.Page{})
		if err != nil || len(got) != 1 || got[0].ID != b.ID {
			t.Fatalf("filtering by parent and all selectors found %v, %v; want entry %s", ids(got), err, b.ID)
		}
	},
}
