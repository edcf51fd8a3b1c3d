package sqlite_test

import (
	"database/sql"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lanyard-dev/lanyard/server/datastore"
	"github.com/lanyard-dev/lanyard/server/datastore/datastoretest"
	"github.com/lanyard-dev/lanyard/server/datastore/sqlite"
)

func testLog(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
}

func TestConformance(t *testing.T) {
	// One file per test: a second open with the same t reopens that test's file.
	path := datastoretest.PerTest(func(t *testing.T) string { return filepath.Join(t.TempDir(), "datastore.sqlite3") })
	datastoretest.Run(t, func(t *testing.T) datastore.Store {
		s, err := sqlite.Open(t.Context(), path(t), testLog(t))
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}

func TestOpenCreatesPrivateFileAndDirectory(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data", "server")
	path := filepath.Join(dir, "datastore.sqlite3")
	s, err := sqlite.Open(t.Context(), path, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	// Write so SQLite creates its -wal and -shm files too.
	if err := s.SetCAJournal(t.Context(), "s", []byte("secret-ish")); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		info, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if mode := info.Mode().Perm(); mode != 0o600 {
			t.Errorf("%s has mode %v, want 0600", filepath.Base(p), mode)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if mode := info.Mode().Perm(); mode != 0o700 {
		t.Errorf("created directory has mode %v, want 0700", mode)
	}
}

func TestOpenRefusesANewerSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), "datastore.sqlite3")
	s, err := sqlite.Open(t.Context(), path, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`UPDATE schema_version SET version = 999`); err != nil {
		t.Fatal(err)
	}
	db.Close()

	_, err = sqlite.Open(t.Context(), path, testLog(t))
	if !errors.Is(err, sqlite.ErrSchemaTooNew) {
		t.Fatalf("Open = %v, want an error wrapping ErrSchemaTooNew", err)
	}
	for _, want := range []string{"schema version 999", path} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}

func TestOpenIsIdempotentOnAnUpToDateFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "datastore.sqlite3")
	for i := range 3 {
		s, err := sqlite.Open(t.Context(), path, testLog(t))
		if err != nil {
			t.Fatalf("open %d: %v", i, err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatalf("second Close: %v", err)
		}
	}
}

func TestOpenRejectsBadPaths(t *testing.T) {
	tests := map[string]struct {
		path string
		want string
	}{
		"an empty path names the config field":     {"", "connection_string"},
		"an in-memory database is not persistent":  {":memory:", "plain file path"},
		"a URI with parameters is not a file path": {"file:x.db?mode=ro", "plain file path"},
		"a directory is not a database file":       {t.TempDir(), "directory"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := sqlite.Open(t.Context(), tc.path, testLog(t))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Open(%q) = %v, want an error mentioning %q", tc.path, err, tc.want)
			}
		})
	}
}
