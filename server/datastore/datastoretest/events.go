package datastoretest

import (
	"slices"
	"testing"
	"time"

	"github.com/lanyard-dev/lanyard/server/datastore"
)

func allEvents(t *testing.T, s datastore.Store, after int64) []datastore.EntryEvent {
	t.Helper()
	evs, err := s.ListEntryEvents(t.Context(), after, 0)
	if err != nil {
		t.Fatalf("ListEntryEvents: %v", err)
	}
	return evs
}

func lastEventID(t *testing.T, s datastore.Store) int64 {
	t.Helper()
	evs := allEvents(t, s, 0)
	if len(evs) == 0 {
		return 0
	}
	return evs[len(evs)-1].ID
}

func eventEntryIDs(evs []datastore.EntryEvent) []string {
	out := make([]string, len(evs))
	for i, ev := range evs {
		out[i] = ev.EntryID
	}
	return out
}

// wantEvents checks that the events after `after` name exactly the given entries, in order,
// with increasing IDs.
func wantEvents(t *testing.T, s datastore.Store, after int64, entryIDs ...string) []datastore.EntryEvent {
	t.Helper()
	evs := allEvents(t, s, after)
	if got := eventEntryIDs(evs); !slices.Equal(got, entryIDs) {
		t.Fatalf("events name entries %v, want %v", got, entryIDs)
	}
	for i := 1; i < len(evs); i++ {
		if evs[i].ID <= evs[i-1].ID {
			t.Fatalf("event IDs do not increase: %d after %d", evs[i].ID, evs[i-1].ID)
		}
	}
	return evs
}

var eventTests = map[string]func(t *testing.T, open Opener){
	"every create, update and delete appends an event, in order": func(t *testing.T, open Opener) {
		s := open(t)
		start := lastEventID(t, s)
		made := create(t, s, entry("/a", "unix:uid:1"), entry("/b", "unix:uid:2"))
		a, b := made[0].ID, made[1].ID
		if _, err := s.UpdateEntries(t.Context(), []*datastore.Entry{{ID: a, Hint: "h"}}, datastore.EntryMask{Hint: true}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.DeleteEntries(t.Context(), []string{b}); err != nil {
			t.Fatal(err)
		}
		wantEvents(t, s, start, a, b, a, b)
	},
	"items that fail append no events": func(t *testing.T, open Opener) {
		s := open(t)
		e := create(t, s, entry("/a", "unix:uid:1"))[0]
		start := lastEventID(t, s)
		if _, err := s.CreateEntries(t.Context(), []*datastore.Entry{entry("/a", "unix:uid:1"), {}}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.UpdateEntries(t.Context(), []*datastore.Entry{{ID: "missing"}}, datastore.AllEntryFields); err != nil {
			t.Fatal(err)
		}
		if _, err := s.DeleteEntries(t.Context(), []string{"missing"}); err != nil {
			t.Fatal(err)
		}
		wantEvents(t, s, start)
		if _, err := s.DeleteEntries(t.Context(), []string{e.ID}); err != nil {
			t.Fatal(err)
		}
		wantEvents(t, s, start, e.ID)
	},
	"ListEntryEvents continues after an ID and honours the limit": func(t *testing.T, open Opener) {
		s := open(t)
		start := lastEventID(t, s)
		made := create(t, s, entry("/1", "unix:uid:1"), entry("/2", "unix:uid:2"), entry("/3", "unix:uid:3"))
		first, err := s.ListEntryEvents(t.Context(), start, 2)
		if err != nil {
			t.Fatal(err)
		}
		if got := eventEntryIDs(first); !slices.Equal(got, []string{made[0].ID, made[1].ID}) {
			t.Fatalf("first two events name %v", got)
		}
		wantEvents(t, s, first[1].ID, made[2].ID)
	},
	"PruneEntryEvents drops events recorded before the time and IDs are never reused": func(t *testing.T, open Opener) {
		s := open(t)
		create(t, s, entry("/1", "unix:uid:1"), entry("/2", "unix:uid:2"))
		before := allEvents(t, s, 0)
		if err := s.PruneEntryEvents(t.Context(), time.Now().Add(-time.Hour)); err != nil {
			t.Fatal(err)
		}
		if got := allEvents(t, s, 0); len(got) != len(before) {
			t.Fatalf("pruning before an hour ago removed events: %d left of %d", len(got), len(before))
		}
		if err := s.PruneEntryEvents(t.Context(), time.Now().Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		if got := allEvents(t, s, 0); len(got) != 0 {
			t.Fatalf("%d events left after pruning everything before an hour from now", len(got))
		}
		e := create(t, s, entry("/3", "unix:uid:3"))[0]
		evs := wantEvents(t, s, 0, e.ID)
		if evs[0].ID <= before[len(before)-1].ID {
			t.Fatalf("new event ID %d reuses a pruned one (last was %d)", evs[0].ID, before[len(before)-1].ID)
		}
	},
}
