package datastoretest

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/lanyard-dev/lanyard/server/datastore"
)

var durabilityTests = map[string]func(t *testing.T, open Opener){
	"everything survives Close and reopening the same store": func(t *testing.T, open Opener) {
		s := open(t)
		ctx := t.Context()
		b := bundle(t, "a.org")
		if _, err := s.CreateBundle(ctx, b); err != nil {
			t.Fatal(err)
		}
		e := create(t, s, &datastore.Entry{SPIFFEID: td + "/kept", ParentID: parentA, Selectors: sels("unix:uid:1"),
			FederatesWith: []string{"a.org"}, DNSNames: []string{"kept.example.org"}, Hint: "h"})[0]
		a, err := s.CreateAgent(ctx, agent("kept", "unix:uid:0"))
		if err != nil {
			t.Fatal(err)
		}
		exp := time.Now().Add(time.Hour)
		if err := s.CreateJoinToken(ctx, &datastore.JoinToken{Token: "kept", ExpiresAt: exp}); err != nil {
			t.Fatal(err)
		}
		if err := s.SetCAJournal(ctx, "server", []byte("journal")); err != nil {
			t.Fatal(err)
		}
		lastEvent := lastEventID(t, s)
		if err := s.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}

		s = open(t)
		sameEntry(t, mustGetEntry(t, s, e.ID), e)
		if n, err := s.CountEntries(ctx, bySel(datastore.MatchExact, "unix:uid:1")); err != nil || n != 1 {
			t.Fatalf("after reopen the selector filter finds %d entries (%v), want 1", n, err)
		}
		gotAgent, err := s.GetAgent(ctx, a.ID)
		if err != nil {
			t.Fatal(err)
		}
		sameAgent(t, gotAgent, a)
		sameBundle(t, mustGetBundle(t, s, "a.org"), b)
		if jt, err := s.TakeJoinToken(ctx, "kept"); err != nil || jt.ExpiresAt.Unix() != exp.Unix() {
			t.Fatalf("TakeJoinToken after reopen = %+v, %v", jt, err)
		}
		if j, err := s.FetchCAJournal(ctx, "server"); err != nil || !bytes.Equal(j, []byte("journal")) {
			t.Fatalf("FetchCAJournal after reopen = %q, %v", j, err)
		}
		if lastEventID(t, s) != lastEvent {
			t.Fatalf("events changed across reopen: last ID %d, was %d", lastEventID(t, s), lastEvent)
		}
		e2 := create(t, s, entry("/after", "unix:uid:2"))[0]
		if evs := wantEvents(t, s, lastEvent, e2.ID); evs[0].ID <= lastEvent {
			t.Fatal("event IDs went backwards after reopen")
		}
	},
	"a cancelled context fails the call and stores nothing": func(t *testing.T, open Opener) {
		s := open(t)
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		if _, err := s.CreateEntries(ctx, []*datastore.Entry{entry("/c", "unix:uid:1")}); err == nil {
			t.Fatal("CreateEntries with a cancelled context succeeded")
		}
		if _, err := s.CreateAgent(ctx, agent("c")); err == nil {
			t.Fatal("CreateAgent with a cancelled context succeeded")
		}
		if _, err := s.GetEntry(ctx, "x"); err == nil {
			t.Fatal("GetEntry with a cancelled context succeeded")
		}
		if n, err := s.CountEntries(t.Context(), datastore.EntryFilter{}); err != nil || n != 0 {
			t.Fatalf("CountEntries = %d, %v; want 0 entries stored", n, err)
		}
		if n, err := s.CountAgents(t.Context(), datastore.AgentFilter{}); err != nil || n != 0 {
			t.Fatalf("CountAgents = %d, %v; want 0 agents stored", n, err)
		}
	},
}
