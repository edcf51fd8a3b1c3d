package datastoretest

import (
	"testing"

	"github.com/lanyard-dev/lanyard/server/datastore"
)

var entryFederationTests = map[string]func(t *testing.T, open Opener){
	"an entry federating with an unknown trust domain is refused, the rest of the batch kept": func(t *testing.T, open Opener) {
		s := open(t)
		withBundles(t, s, "a.org")
		bad := entry("/typo", "unix:uid:1")
		bad.FederatesWith = []string{"a.org", "typo.org"}
		good := entry("/a", "unix:uid:2")
		good.FederatesWith = []string{"a.org"}
		res, err := s.CreateEntries(t.Context(), []*datastore.Entry{bad, good})
		if err != nil {
			t.Fatal(err)
		}
		wantErr(t, res[0].Err, datastore.ErrConflict)
		if res[1].Err != nil {
			t.Fatalf("the valid item failed: %v", res[1].Err)
		}
		if n, err := s.CountEntries(t.Context(), datastore.EntryFilter{}); err != nil || n != 1 {
			t.Fatalf("%d entries stored (%v), want only the valid one", n, err)
		}
	},
	"an update that adds an unknown trust domain is refused": func(t *testing.T, open Opener) {
		s := open(t)
		withBundles(t, s, "a.org")
		e := entry("/a", "unix:uid:1")
		e.FederatesWith = []string{"a.org"}
		made := create(t, s, e)[0]
		upd := *made
		upd.FederatesWith = []string{"a.org", "typo.org"}
		res, err := s.UpdateEntries(t.Context(), []*datastore.Entry{&upd}, datastore.EntryMask{FederatesWith: true})
		if err != nil {
			t.Fatal(err)
		}
		wantErr(t, res[0].Err, datastore.ErrConflict)
		if got := mustGetEntry(t, s, made.ID); len(got.FederatesWith) != 1 || got.RevisionNumber != made.RevisionNumber {
			t.Fatalf("the refused update changed the entry: %+v", got)
		}
	},
	"a federation relationship without a bundle yet is enough": func(t *testing.T, open Opener) {
		s := open(t)
		fs := federationStore(t, s)
		if _, err := fs.CreateFederationRelationship(t.Context(), webRelationship("partner.org"), nil); err != nil {
			t.Fatal(err)
		}
		e := entry("/p", "unix:uid:1")
		e.FederatesWith = []string{"partner.org"}
		create(t, s, e)
	},
}
