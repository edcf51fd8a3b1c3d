package postgres

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/lanyard-dev/lanyard/attestors"
	"github.com/lanyard-dev/lanyard/server/datastore"
	"github.com/lanyard-dev/lanyard/server/datastore/postgres/pgtest"
)

// A write of another server that is still open must hold back this server's write: its
// event got the lower ID, and a follower that saw the higher one first would skip it.
func TestWritesTakeTurnsSoEventsBecomeVisibleInIDOrder(t *testing.T) {
	url := pgtest.Start(t).NewDatabase(t)
	s, err := Open(t.Context(), url, Pool{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })

	// The other server, paused inside its write transaction after appending an event.
	other, err := pgx.Connect(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close(context.Background())
	tx, err := other.Begin(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(context.Background())
	if _, err := tx.Exec(t.Context(), "SELECT pg_advisory_xact_lock($1)", writeLockKey); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(t.Context(), "INSERT INTO entry_events (entry_id, created_at) VALUES ('other', 0)"); err != nil {
		t.Fatal(err)
	}

	watch, err := pgx.Connect(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer watch.Close(context.Background())

	done := make(chan error, 1)
	go func() {
		_, err := s.CreateEntries(context.Background(), []*datastore.Entry{{SPIFFEID: "spiffe://example.org/w",
			ParentID: "spiffe://example.org/a", Selectors: []attestors.Selector{{Type: "unix", Value: "uid:1"}}}})
		done <- err
	}()
	// Wait until the write is queued behind the other server's lock, and fail if it finishes.
	for deadline := time.Now().Add(30 * time.Second); ; {
		select {
		case err := <-done:
			t.Fatalf("CreateEntries finished (%v) while another server's write transaction was open", err)
		default:
		}
		var waiting int
		if err := watch.QueryRow(t.Context(),
			"SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted").Scan(&waiting); err != nil {
			t.Fatal(err)
		}
		if waiting == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("CreateEntries never waited for the write lock")
		}
	}
	if err := tx.Commit(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	evs, err := s.ListEntryEvents(t.Context(), 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 2 || evs[0].EntryID != "other" {
		t.Fatalf("events = %+v, want the other server's first", evs)
	}
}
