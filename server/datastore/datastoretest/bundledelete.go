package datastoretest

import (
	"errors"
	"slices"
	"testing"

	"github.com/lanyard-dev/lanyard/server/datastore"
)

// federationFixture stores bundles a.org and b.org and three entries: one federating with
// a.org, one with a.org and b.org, one with neither.
func federationFixture(t *testing.T, s datastore.Store) (onlyA, both, none *datastore.Entry) {
	withBundles(t, s, "a.org", "b.org")
	e1, e2 := entry("/a", "unix:uid:1"), entry("/ab", "unix:uid:2")
	e1.FederatesWith, e2.FederatesWith = []string{"a.org"}, []string{"a.org", "b.org"}
	made := create(t, s, e1, e2, entry("/none", "unix:uid:3"))
	return made[0], made[1], made[2]
}

// withBundles stores a bundle for each trust domain, so entries may federate with them.
func withBundles(t *testing.T, s datastore.Store, trustDomains ...string) {
	t.Helper()
	for _, name := range trustDomains {
		if _, err := s.CreateBundle(t.Context(), bundle(t, name)); err != nil {
			t.Fatal(err)
		}
	}
}

var bundleDeleteTests = map[string]func(t *testing.T, open Opener){
	"restrict refuses with ErrConflict while entries federate and keeps everything": func(t *testing.T, open Opener) {
		s := open(t)
		onlyA, _, _ := federationFixture(t, s)
		start := lastEventID(t, s)
		err := s.DeleteBundle(t.Context(), "a.org", datastore.DeleteRestrict)
		wantErr(t, err, datastore.ErrConflict)
		mustGetBundle(t, s, "a.org")
		sameEntry(t, mustGetEntry(t, s, onlyA.ID), onlyA)
		wantEvents(t, s, start)
	},
	"restrict deletes a bundle nothing federates with": func(t *testing.T, open Opener) {
		s := open(t)
		if _, err := s.CreateBundle(t.Context(), bundle(t, "c.org")); err != nil {
			t.Fatal(err)
		}
		if err := s.DeleteBundle(t.Context(), "c.org", datastore.DeleteRestrict); err != nil {
			t.Fatal(err)
		}
		_, err := s.GetBundle(t.Context(), "c.org")
		wantErr(t, err, datastore.ErrNotFound)
	},
	"cascade deletes the federating entries with events": func(t *testing.T, open Opener) {
		s := open(t)
		onlyA, both, none := federationFixture(t, s)
		start := lastEventID(t, s)
		if err := s.DeleteBundle(t.Context(), "a.org", datastore.DeleteCascade); err != nil {
			t.Fatal(err)
		}
		for _, id := range []string{onlyA.ID, both.ID} {
			_, err := s.GetEntry(t.Context(), id)
			wantErr(t, err, datastore.ErrNotFound)
		}
		sameEntry(t, mustGetEntry(t, s, none.ID), none)
		got := eventEntryIDs(allEvents(t, s, start))
		slices.Sort(got)
		if want := slices.Sorted(slices.Values([]string{onlyA.ID, both.ID})); !slices.Equal(got, want) {
			t.Fatalf("cascade events name %v, want %v", got, want)
		}
		_, err := s.GetBundle(t.Context(), "a.org")
		wantErr(t, err, datastore.ErrNotFound)
	},
	"dissociate removes the trust domain from entries, bumps their revision and records events": func(t *testing.T, open Opener) {
		s := open(t)
		onlyA, both, none := federationFixture(t, s)
		start := lastEventID(t, s)
		if err := s.DeleteBundle(t.Context(), "a.org", datastore.DeleteDissociate); err != nil {
			t.Fatal(err)
		}
		wantA := *onlyA
		wantA.FederatesWith, wantA.RevisionNumber = nil, 1
		sameEntry(t, mustGetEntry(t, s, onlyA.ID), &wantA)
		wantBoth := *both
		wantBoth.FederatesWith, wantBoth.RevisionNumber = []string{"b.org"}, 1
		sameEntry(t, mustGetEntry(t, s, both.ID), &wantBoth)
		sameEntry(t, mustGetEntry(t, s, none.ID), none)
		if n, err := s.CountEntries(t.Context(), byFed(datastore.MatchAny, "a.org")); err != nil || n != 0 {
			t.Fatalf("%d entries still federate with a.org (%v)", n, err)
		}
		if n, err := s.CountEntries(t.Context(), byFed(datastore.MatchExact, "b.org")); err != nil || n != 1 {
			t.Fatalf("%d entries federate with exactly b.org (%v), want 1", n, err)
		}
		got := eventEntryIDs(allEvents(t, s, start))
		slices.Sort(got)
		if want := slices.Sorted(slices.Values([]string{onlyA.ID, both.ID})); !slices.Equal(got, want) {
			t.Fatalf("dissociate events name %v, want %v", got, want)
		}
		_, err := s.GetBundle(t.Context(), "a.org")
		wantErr(t, err, datastore.ErrNotFound)
	},
	"deleting an unknown bundle is ErrNotFound": func(t *testing.T, open Opener) {
		err := open(t).DeleteBundle(t.Context(), "nowhere.org", datastore.DeleteCascade)
		wantErr(t, err, datastore.ErrNotFound)
	},
	"an unknown delete mode is an error and deletes nothing": func(t *testing.T, open Opener) {
		s := open(t)
		if _, err := s.CreateBundle(t.Context(), bundle(t, "c.org")); err != nil {
			t.Fatal(err)
		}
		err := s.DeleteBundle(t.Context(), "c.org", datastore.DeleteMode(9))
		if err == nil || errors.Is(err, datastore.ErrNotFound) {
			t.Fatalf("DeleteBundle with mode 9: %v, want a validation error", err)
		}
		mustGetBundle(t, s, "c.org")
	},
}
