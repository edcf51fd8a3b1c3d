package datastoretest

import (
	"errors"
	"strconv"
	"testing"

	"github.com/lanyard-dev/lanyard/server/datastore"
)

var entryTests = map[string]func(t *testing.T, open Opener){
	"create assigns an ID, CreatedAt and revision 0 and keeps every field": func(t *testing.T, open Opener) {
		s := open(t)
		withBundles(t, s, "a.org", "b.org")
		in := &datastore.Entry{
			SPIFFEID: td + "/web", ParentID: parentA, Selectors: sels("unix:uid:1000", "unix:gid:1000"),
			X509SVIDTTL: 3600, JWTSVIDTTL: 300, FederatesWith: []string{"b.org", "a.org"}, Admin: true,
			Downstream: true, ExpiresAt: 1_900_000_000, DNSNames: []string{"web.example.org", "alt.example.org"},
			StoreSVID: true, Hint: "web", RevisionNumber: 7, CreatedAt: 1,
		}
		got := create(t, s, in)[0]
		if got.ID == "" || got.RevisionNumber != 0 || got.CreatedAt == 0 || got.CreatedAt == 1 {
			t.Fatalf("created entry has ID %q, revision %d, CreatedAt %d; want a fresh ID, revision 0 and the store's time",
				got.ID, got.RevisionNumber, got.CreatedAt)
		}
		want := *in
		want.ID, want.RevisionNumber, want.CreatedAt = got.ID, 0, got.CreatedAt
		sameEntry(t, got, &want)
		sameEntry(t, mustGetEntry(t, s, got.ID), &want)
		if stored := mustGetEntry(t, s, got.ID); stored.DNSNames[0] != "web.example.org" {
			t.Fatalf("DNS names came back as %v; their order must be kept (the first may become the CN)", stored.DNSNames)
		}
	},
	"a caller-supplied ID is kept and reusing it is ErrAlreadyExists": func(t *testing.T, open Opener) {
		s := open(t)
		first := entry("/a", "unix:uid:1")
		first.ID = "my-entry"
		if got := create(t, s, first)[0]; got.ID != "my-entry" {
			t.Fatalf("ID = %q, want my-entry", got.ID)
		}
		again := entry("/b", "unix:uid:2")
		again.ID = "my-entry"
		res, err := s.CreateEntries(t.Context(), []*datastore.Entry{again})
		if err != nil {
			t.Fatal(err)
		}
		wantErr(t, res[0].Err, datastore.ErrAlreadyExists)
		if res[0].Entry == nil || res[0].Entry.SPIFFEID != td+"/a" {
			t.Fatalf("the result should carry the existing entry, got %+v", res[0].Entry)
		}
		if n, _ := s.CountEntries(t.Context(), datastore.EntryFilter{}); n != 1 {
			t.Fatalf("CountEntries = %d, want 1", n)
		}
	},
	"a batch with one duplicate stores the others and returns the existing entry for it": func(t *testing.T, open Opener) {
		s := open(t)
		existing := create(t, s, entry("/dup", "unix:uid:1", "unix:gid:1"))[0]
		dup := entry("/dup", "unix:gid:1", "unix:uid:1") // same set, other order
		dup.Hint = "different fields do not matter"
		res, err := s.CreateEntries(t.Context(), []*datastore.Entry{entry("/x", "unix:uid:2"), dup, entry("/y", "unix:uid:3")})
		if err != nil {
			t.Fatal(err)
		}
		if res[0].Err != nil || res[2].Err != nil {
			t.Fatalf("the other items failed: %v, %v", res[0].Err, res[2].Err)
		}
		wantErr(t, res[1].Err, datastore.ErrAlreadyExists)
		sameEntry(t, res[1].Entry, existing)
		for _, r := range []datastore.EntryResult{res[0], res[2]} {
			mustGetEntry(t, s, r.Entry.ID)
		}
		if n, _ := s.CountEntries(t.Context(), datastore.EntryFilter{}); n != 3 {
			t.Fatalf("CountEntries = %d, want 3", n)
		}
	},
	"the second of two identical entries in one batch is ErrAlreadyExists": func(t *testing.T, open Opener) {
		s := open(t)
		res, err := s.CreateEntries(t.Context(), []*datastore.Entry{entry("/same", "unix:uid:1"), entry("/same", "unix:uid:1")})
		if err != nil {
			t.Fatal(err)
		}
		if res[0].Err != nil {
			t.Fatal(res[0].Err)
		}
		wantErr(t, res[1].Err, datastore.ErrAlreadyExists)
		if res[1].Entry == nil || res[1].Entry.ID != res[0].Entry.ID {
			t.Fatalf("duplicate result entry = %+v, want the first item's entry %s", res[1].Entry, res[0].Entry.ID)
		}
	},
	"entries differing only in selectors, SPIFFE ID or parent ID are distinct": func(t *testing.T, open Opener) {
		s := open(t)
		other := entry("/w", "unix:uid:1")
		other.ParentID = parentB
		create(t, s, entry("/w", "unix:uid:1"), entry("/w", "unix:uid:1", "unix:gid:1"), entry("/v", "unix:uid:1"), other)
	},
	"generated IDs are unique": func(t *testing.T, open Opener) {
		s := open(t)
		var batch []*datastore.Entry
		for i := range 200 {
			batch = append(batch, entry("/w", "unix:uid:"+strconv.Itoa(i)))
		}
		seen := map[string]bool{}
		for _, e := range create(t, s, batch...) {
			if seen[e.ID] {
				t.Fatalf("ID %s generated twice", e.ID)
			}
			seen[e.ID] = true
		}
	},
	"an invalid item fails alone with a validation error": func(t *testing.T, open Opener) {
		s := open(t)
		bad := []*datastore.Entry{
			{ParentID: parentA, Selectors: sels("unix:uid:1")},                // no SPIFFE ID
			{SPIFFEID: td + "/x", Selectors: sels("unix:uid:1")},              // no parent
			{SPIFFEID: td + "/x", ParentID: parentA},                          // no selectors
			{SPIFFEID: td + "/x", ParentID: parentA, Selectors: sels("unix")}, // empty value
		}
		batch := append([]*datastore.Entry{entry("/ok", "unix:uid:1")}, bad...)
		res, err := s.CreateEntries(t.Context(), batch)
		if err != nil {
			t.Fatal(err)
		}
		if res[0].Err != nil {
			t.Fatalf("the valid item failed: %v", res[0].Err)
		}
		for i := range bad {
			if err := res[i+1].Err; err == nil || errors.Is(err, datastore.ErrAlreadyExists) {
				t.Fatalf("invalid item %d: error = %v, want a validation error", i, err)
			}
		}
		if n, _ := s.CountEntries(t.Context(), datastore.EntryFilter{}); n != 1 {
			t.Fatalf("CountEntries = %d, want 1", n)
		}
	},
	"returned entries are copies the caller may modify": func(t *testing.T, open Opener) {
		s := open(t)
		in := entry("/c", "unix:uid:1")
		in.DNSNames = []string{"c.example.org"}
		got := create(t, s, in)[0]
		in.Selectors[0].Value = "uid:666"
		got.Selectors[0].Value = "uid:666"
		got.DNSNames[0] = "evil.example.org"
		again := mustGetEntry(t, s, got.ID)
		again.Selectors[0].Value = "uid:777"
		stored := mustGetEntry(t, s, got.ID)
		if stored.Selectors[0].Value != "uid:1" || stored.DNSNames[0] != "c.example.org" {
			t.Fatalf("stored entry changed through a returned value: %+v", stored)
		}
	},
	"GetEntry of an unknown ID is ErrNotFound": func(t *testing.T, open Opener) {
		_, err := open(t).GetEntry(t.Context(), "no-such-entry")
		wantErr(t, err, datastore.ErrNotFound)
	},
	"update changes only the masked fields and increments the revision": func(t *testing.T, open Opener) {
		s := open(t)
		orig := create(t, s, &datastore.Entry{SPIFFEID: td + "/u", ParentID: parentA, Selectors: sels("unix:uid:1"),
			X509SVIDTTL: 60, Hint: "old", DNSNames: []string{"u.example.org"}})[0]
		change := &datastore.Entry{ID: orig.ID, SPIFFEID: td + "/ignored", Hint: "new", X509SVIDTTL: 120,
			DNSNames: []string{"ignored"}, RevisionNumber: 99, CreatedAt: 5}
		res, err := s.UpdateEntries(t.Context(), []*datastore.Entry{change}, datastore.EntryMask{Hint: true, X509SVIDTTL: true})
		if err != nil || res[0].Err != nil {
			t.Fatalf("UpdateEntries: %v, %v", err, res[0].Err)
		}
		want := *orig
		want.Hint, want.X509SVIDTTL, want.RevisionNumber = "new", 120, 1
		sameEntry(t, res[0].Entry, &want)
		sameEntry(t, mustGetEntry(t, s, orig.ID), &want)
		res, err = s.UpdateEntries(t.Context(), []*datastore.Entry{change}, datastore.EntryMask{})
		if err != nil || res[0].Err != nil {
			t.Fatalf("UpdateEntries: %v, %v", err, res[0].Err)
		}
		if res[0].Entry.RevisionNumber != 2 {
			t.Fatalf("revision after second update = %d, want 2", res[0].Entry.RevisionNumber)
		}
	},
	"update of selectors and federates_with is seen by filters": func(t *testing.T, open Opener) {
		s := open(t)
		withBundles(t, s, "a.org", "b.org")
		orig := create(t, s, &datastore.Entry{SPIFFEID: td + "/u", ParentID: parentA, Selectors: sels("unix:uid:1"),
			FederatesWith: []string{"a.org"}})[0]
		upd := *orig
		upd.Selectors, upd.FederatesWith = sels("unix:uid:2", "unix:gid:2"), []string{"b.org"}
		res, err := s.UpdateEntries(t.Context(), []*datastore.Entry{&upd}, datastore.AllEntryFields)
		if err != nil || res[0].Err != nil {
			t.Fatalf("UpdateEntries: %v, %v", err, res[0].Err)
		}
		for name, tc := range map[string]struct {
			f    datastore.EntryFilter
			want int
		}{
			"old selector":  {datastore.EntryFilter{BySelectors: &datastore.SelectorMatch{Selectors: sels("unix:uid:1"), Match: datastore.MatchAny}}, 0},
			"new selectors": {datastore.EntryFilter{BySelectors: &datastore.SelectorMatch{Selectors: sels("unix:gid:2", "unix:uid:2"), Match: datastore.MatchExact}}, 1},
			"old domain":    {datastore.EntryFilter{ByFederatesWith: &datastore.FederatesWithMatch{TrustDomains: []string{"a.org"}, Match: datastore.MatchAny}}, 0},
			"new domain":    {datastore.EntryFilter{ByFederatesWith: &datastore.FederatesWithMatch{TrustDomains: []string{"b.org"}, Match: datastore.MatchExact}}, 1},
		} {
			if n, err := s.CountEntries(t.Context(), tc.f); err != nil || n != tc.want {
				t.Fatalf("%s: CountEntries = %d, %v; want %d", name, n, err, tc.want)
			}
		}
	},
	"update of an unknown ID is ErrNotFound while the rest of the batch applies": func(t *testing.T, open Opener) {
		s := open(t)
		e := create(t, s, entry("/u", "unix:uid:1"))[0]
		res, err := s.UpdateEntries(t.Context(), []*datastore.Entry{{ID: "missing", Hint: "x"}, {ID: e.ID, Hint: "x"}},
			datastore.EntryMask{Hint: true})
		if err != nil {
			t.Fatal(err)
		}
		wantErr(t, res[0].Err, datastore.ErrNotFound)
		if res[1].Err != nil || mustGetEntry(t, s, e.ID).Hint != "x" {
			t.Fatalf("the valid update did not apply: %v", res[1].Err)
		}
	},
	"an update colliding with another entry's identity is ErrAlreadyExists and changes nothing": func(t *testing.T, open Opener) {
		s := open(t)
		made := create(t, s, entry("/w", "unix:uid:1"), entry("/w", "unix:uid:2"))
		upd := *made[1]
		upd.Selectors = sels("unix:uid:1")
		upd.Hint = "should not stick"
		res, err := s.UpdateEntries(t.Context(), []*datastore.Entry{&upd}, datastore.AllEntryFields)
		if err != nil {
			t.Fatal(err)
		}
		wantErr(t, res[0].Err, datastore.ErrAlreadyExists)
		if res[0].Entry == nil || res[0].Entry.ID != made[0].ID {
			t.Fatalf("result entry = %+v, want the entry it collides with (%s)", res[0].Entry, made[0].ID)
		}
		sameEntry(t, mustGetEntry(t, s, made[1].ID), made[1])
	},
	"delete returns the deleted entries and ErrNotFound for unknown IDs": func(t *testing.T, open Opener) {
		s := open(t)
		made := create(t, s, entry("/d", "unix:uid:1"), entry("/keep", "unix:uid:1"))
		res, err := s.DeleteEntries(t.Context(), []string{made[0].ID, "missing", made[0].ID})
		if err != nil {
			t.Fatal(err)
		}
		if res[0].Err != nil {
			t.Fatal(res[0].Err)
		}
		sameEntry(t, res[0].Entry, made[0])
		wantErr(t, res[1].Err, datastore.ErrNotFound)
		wantErr(t, res[2].Err, datastore.ErrNotFound)
		_, err = s.GetEntry(t.Context(), made[0].ID)
		wantErr(t, err, datastore.ErrNotFound)
		got, _, err := s.ListEntries(t.Context(), datastore.EntryFilter{BySelectors: &datastore.SelectorMatch{
			Selectors: sels("unix:uid:1"), Match: datastore.MatchExact}}, datastore.Page{})
		if err != nil || len(got) != 1 || got[0].ID != made[1].ID {
			t.Fatalf("after delete, selector filter found %v (%v), want only %s", ids(got), err, made[1].ID)
		}
		// The deleted identity is free again.
		create(t, s, entry("/d", "unix:uid:1"))
	},
}
