package datastoretest

import (
	"bytes"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/lanyard-dev/lanyard/server/datastore"
)

var tokenTests = map[string]func(t *testing.T, open Opener){
	"a join token can be taken once, with its expiry and agent ID": func(t *testing.T, open Opener) {
		s := open(t)
		exp := time.Now().Add(10 * time.Minute)
		if err := s.CreateJoinToken(t.Context(), &datastore.JoinToken{Token: "tok", ExpiresAt: exp, AgentID: td + "/alias"}); err != nil {
			t.Fatal(err)
		}
		got, err := s.TakeJoinToken(t.Context(), "tok")
		if err != nil {
			t.Fatal(err)
		}
		if got.Token != "tok" || got.AgentID != td+"/alias" || got.ExpiresAt.Unix() != exp.Unix() {
			t.Fatalf("took %+v, want token tok, agent %s/alias, expiry %v", got, td, exp)
		}
		_, err = s.TakeJoinToken(t.Context(), "tok")
		wantErr(t, err, datastore.ErrNotFound)
	},
	"an unknown join token is ErrNotFound": func(t *testing.T, open Opener) {
		_, err := open(t).TakeJoinToken(t.Context(), "never-created")
		wantErr(t, err, datastore.ErrNotFound)
	},
	"creating an existing join token is ErrAlreadyExists": func(t *testing.T, open Opener) {
		s := open(t)
		jt := &datastore.JoinToken{Token: "tok", ExpiresAt: time.Now().Add(time.Minute)}
		if err := s.CreateJoinToken(t.Context(), jt); err != nil {
			t.Fatal(err)
		}
		wantErr(t, s.CreateJoinToken(t.Context(), jt), datastore.ErrAlreadyExists)
	},
	"of 10 concurrent takers exactly one gets the token": func(t *testing.T, open Opener) {
		s := open(t)
		if err := s.CreateJoinToken(t.Context(), &datastore.JoinToken{Token: "race", ExpiresAt: time.Now().Add(time.Minute)}); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		var mu sync.Mutex
		won, lost := 0, 0
		var other []error
		for range 10 {
			wg.Go(func() {
				_, err := s.TakeJoinToken(t.Context(), "race")
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					won++
				case errors.Is(err, datastore.ErrNotFound):
					lost++
				default:
					other = append(other, err)
				}
			})
		}
		wg.Wait()
		if won != 1 || lost != 9 || len(other) > 0 {
			t.Fatalf("%d takers won, %d got ErrNotFound, other errors %v; want 1, 9, none", won, lost, other)
		}
	},
	"pruning removes tokens that expired before the time": func(t *testing.T, open Opener) {
		s := open(t)
		now := time.Now()
		for tok, exp := range map[string]time.Time{"old": now.Add(-time.Hour), "new": now.Add(time.Hour)} {
			if err := s.CreateJoinToken(t.Context(), &datastore.JoinToken{Token: tok, ExpiresAt: exp}); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.PruneJoinTokens(t.Context(), now); err != nil {
			t.Fatal(err)
		}
		_, err := s.TakeJoinToken(t.Context(), "old")
		wantErr(t, err, datastore.ErrNotFound)
		if _, err := s.TakeJoinToken(t.Context(), "new"); err != nil {
			t.Fatalf("the unexpired token was pruned: %v", err)
		}
	},
}

var journalTests = map[string]func(t *testing.T, open Opener){
	"a CA journal is per server, ErrNotFound until set, and replaced by a later set": func(t *testing.T, open Opener) {
		s := open(t)
		_, err := s.FetchCAJournal(t.Context(), "server-a")
		wantErr(t, err, datastore.ErrNotFound)
		for _, step := range []struct{ server, data string }{{"server-a", "one"}, {"server-b", "other"}, {"server-a", "two"}} {
			if err := s.SetCAJournal(t.Context(), step.server, []byte(step.data)); err != nil {
				t.Fatal(err)
			}
		}
		for server, want := range map[string]string{"server-a": "two", "server-b": "other"} {
			got, err := s.FetchCAJournal(t.Context(), server)
			if err != nil || !bytes.Equal(got, []byte(want)) {
				t.Fatalf("FetchCAJournal(%s) = %q, %v; want %q", server, got, err, want)
			}
		}
	},
}
