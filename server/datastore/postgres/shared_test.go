package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lanyard-dev/lanyard/attestors"
	"github.com/lanyard-dev/lanyard/server/datastore"
	"github.com/lanyard-dev/lanyard/server/datastore/postgres"
	"github.com/lanyard-dev/lanyard/server/datastore/postgres/pgtest"
)

func open(t *testing.T, url string) *postgres.Store {
	t.Helper()
	s, err := postgres.Open(t.Context(), url, postgres.Pool{MaxOpenConns: 4}, testLog(t))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestOpen(t *testing.T) {
	c := pgtest.Start(t)
	t.Run("servers starting together on an empty database migrate it once", func(t *testing.T) {
		url := c.NewDatabase(t)
		var wg sync.WaitGroup
		errs := make([]error, 4)
		for i := range errs {
			wg.Go(func() {
				s, err := postgres.Open(t.Context(), url, postgres.Pool{}, testLog(t))
				if err == nil {
					err = s.Close()
				}
				errs[i] = err
			})
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			t.Fatal(err)
		}
		open(t, url) // and an up-to-date database opens again
	})
	t.Run("a database written by a newer server is refused", func(t *testing.T) {
		url := c.NewDatabase(t)
		s := open(t, url)
		s.Close()
		if err := pgtest.Exec(t.Context(), url, "UPDATE schema_version SET version = 999"); err != nil {
			t.Fatal(err)
		}
		_, err := postgres.Open(t.Context(), url, postgres.Pool{}, testLog(t))
		if !errors.Is(err, postgres.ErrSchemaTooNew) || !strings.Contains(err.Error(), "schema version 999") {
			t.Fatalf("Open = %v, want ErrSchemaTooNew naming version 999", err)
		}
	})
	t.Run("a bad connection string names the config field and hides the password", func(t *testing.T) {
		for _, cs := range []string{"", "postgres://u:s3cret@127.0.0.1:notaport/db"} {
			_, err := postgres.Open(t.Context(), cs, postgres.Pool{}, testLog(t))
			if err == nil || !strings.Contains(err.Error(), "datastore.connection_string") || strings.Contains(err.Error(), "s3cret") {
				t.Errorf("Open(%q) = %v, want an error naming datastore.connection_string without the password", cs, err)
			}
		}
	})
	t.Run("an unreachable server fails Open without the password", func(t *testing.T) {
		_, err := postgres.Open(t.Context(), "postgres://lanyard:s3cret@127.0.0.1:1/x?sslmode=disable&connect_timeout=5", postgres.Pool{}, testLog(t))
		if err == nil || strings.Contains(err.Error(), "s3cret") {
			t.Fatalf("Open = %v, want a connection error without the password", err)
		}
	})
}

// Servers sharing a database follow each other's writes through entry events; an event
// that became visible after a later one would be skipped by such a follower.
func TestFollowersSeeEveryEntryOfConcurrentWriters(t *testing.T) {
	c := pgtest.Start(t)
	url := c.NewDatabase(t)
	writers := []*postgres.Store{open(t, url), open(t, url)}
	follower := open(t, url)

	const batches, size = 10, 20
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var wg sync.WaitGroup
	var created sync.Map
	writeErrs := make([]error, len(writers))
	for w, s := range writers {
		wg.Go(func() {
			for b := range batches {
				batch := make([]*datastore.Entry, size)
				for i := range batch {
					batch[i] = &datastore.Entry{SPIFFEID: fmt.Sprintf("spiffe://example.org/w%d/b%d/e%d", w, b, i),
						ParentID: "spiffe://example.org/spire/agent/x", Selectors: []attestors.Selector{{Type: "unix", Value: "uid:1"}}}
				}
				res, err := s.CreateEntries(ctx, batch)
				if err != nil {
					writeErrs[w] = err
					return
				}
				for _, r := range res {
					created.Store(r.Entry.ID, true)
				}
			}
		})
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()

	seen := map[string]bool{}
	var after int64
	follow := func() {
		evs, err := follower.ListEntryEvents(t.Context(), after, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range evs {
			seen[ev.EntryID] = true
			after = ev.ID
		}
	}
	for finished := false; !finished; {
		select {
		case <-done:
			finished = true
		default:
		}
		follow()
	}
	follow()
	if err := errors.Join(writeErrs...); err != nil {
		t.Fatal(err)
	}
	n := 0
	created.Range(func(id, _ any) bool {
		n++
		if !seen[id.(string)] {
			t.Errorf("the follower never saw the event of entry %s", id)
		}
		return true
	})
	if n != len(writers)*batches*size {
		t.Fatalf("created %d entries, want %d", n, len(writers)*batches*size)
	}
}

// A database restart breaks every pooled connection; the store must carry on with new
// ones, and what it stored before must still be there.
func TestStoreRecoversFromADatabaseRestart(t *testing.T) {
	c := pgtest.Start(t)
	s := open(t, c.NewDatabase(t))
	e := &datastore.Entry{SPIFFEID: "spiffe://example.org/before", ParentID: "spiffe://example.org/a",
		Selectors: []attestors.Selector{{Type: "unix", Value: "uid:1"}}}
	res, err := s.CreateEntries(t.Context(), []*datastore.Entry{e})
	if err != nil {
		t.Fatal(err)
	}
	c.Restart(t) // immediate: no checkpoint, the server recovers from its WAL

	after := &datastore.Entry{SPIFFEID: "spiffe://example.org/after", ParentID: "spiffe://example.org/a",
		Selectors: []attestors.Selector{{Type: "unix", Value: "uid:2"}}}
	var lastErr error
	for deadline := time.Now().Add(30 * time.Second); ; {
		// A call on a connection that broke may fail once; the pool then replaces it.
		if _, lastErr = s.CreateEntries(t.Context(), []*datastore.Entry{after}); lastErr == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the store did not recover from the restart: %v", lastErr)
		}
	}
	if _, err := s.GetEntry(t.Context(), res[0].Entry.ID); err != nil {
		t.Fatalf("the entry stored before the restart: %v", err)
	}
	if n, err := s.CountEntries(t.Context(), datastore.EntryFilter{}); err != nil || n != 2 {
		t.Fatalf("CountEntries = %d, %v; want 2", n, err)
	}
}
