package sqlite_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lanyard-dev/lanyard/server/datastore/sqlite"
)

const journals = 40

// writeJournals commits one transaction per journal, so the log holds many commit frames.
func writeJournals(t *testing.T, s *sqlite.Store) {
	t.Helper()
	for i := range journals {
		if err := s.SetCAJournal(t.Context(), fmt.Sprintf("server-%d", i), bytes.Repeat([]byte{byte(i)}, 3000)); err != nil {
			t.Fatal(err)
		}
	}
}

func checkJournals(t *testing.T, s *sqlite.Store) {
	t.Helper()
	for i := range journals {
		got, err := s.FetchCAJournal(t.Context(), fmt.Sprintf("server-%d", i))
		if err != nil || !bytes.Equal(got, bytes.Repeat([]byte{byte(i)}, 3000)) {
			t.Fatalf("journal %d after reopening: %v", i, err)
		}
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	in, err := os.Open(from)
	if errors.Is(err, os.ErrNotExist) {
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
}

// crashImage returns the files of a database as a crash would leave them: copied while the
// store is open after its writes committed, so the data sits in the write-ahead log and the
// lock file says the store did not close.
func crashImage(t *testing.T) string {
	t.Helper()
	live := filepath.Join(t.TempDir(), "datastore.sqlite3")
	s, err := sqlite.Open(t.Context(), live, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	writeJournals(t, s)
	path := filepath.Join(t.TempDir(), "datastore.sqlite3")
	for _, suffix := range []string{"", "-wal", "-shm", ".lock"} {
		copyFile(t, live+suffix, path+suffix)
	}
	return path
}

// cleanImage returns a database written and closed cleanly.
func cleanImage(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "datastore.sqlite3")
	s, err := sqlite.Open(t.Context(), path, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	writeJournals(t, s)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

func overwrite(t *testing.T, path string, off int64, data []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(data, off); err != nil {
		t.Fatal(err)
	}
}

func garbage(n int) []byte { return bytes.Repeat([]byte("lanyard garbage!"), n/16) }

func TestCleanCloseCheckpointsTheLogAndRemovesTheLockFile(t *testing.T) {
	path := cleanImage(t)
	for _, suffix := range []string{"-wal", ".lock"} {
		if _, err := os.Stat(path + suffix); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s after a clean close: %v, want it gone", filepath.Base(path+suffix), err)
		}
	}
	// The file alone is the whole database.
	copied := filepath.Join(t.TempDir(), "copy.sqlite3")
	copyFile(t, path, copied)
	s, err := sqlite.Open(t.Context(), copied, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	checkJournals(t, s)
}

// Stores sharing a file (tests, tools) share its lock file: it stays until the last one
// closes, so one store's clean close does not hide another's crash.
func TestTheLockFileStaysUntilTheLastStoreCloses(t *testing.T) {
	path := filepath.Join(t.TempDir(), "datastore.sqlite3")
	var stores []*sqlite.Store
	for range 2 {
		s, err := sqlite.Open(t.Context(), path, testLog(t))
		if err != nil {
			t.Fatal(err)
		}
		writeJournals(t, s)
		stores = append(stores, s)
	}
	stores[0].Close()
	if _, err := os.Stat(path + ".lock"); err != nil {
		t.Fatalf("the lock file after the first of two stores closed: %v", err)
	}
	stores[1].Close()
	if _, err := os.Stat(path + ".lock"); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the lock file after the last store closed: %v, want it gone", err)
	}
}

func TestDamageIsReportedNotPaperedOver(t *testing.T) {
	tests := map[string]struct {
		image  func(t *testing.T) string
		damage func(t *testing.T, path string)
		want   error // nil: opens with every committed transaction
	}{
		"an intact crash image recovers every transaction": {
			image: crashImage, damage: func(*testing.T, string) {},
		},
		"a log deleted after an unclean stop": {
			image: crashImage,
			damage: func(t *testing.T, path string) {
				os.Remove(path + "-wal")
				os.Remove(path + "-shm")
			},
			want: sqlite.ErrLogDamaged,
		},
		"garbage over the log header": {
			image:  crashImage,
			damage: func(t *testing.T, path string) { overwrite(t, path+"-wal", 0, garbage(64)) },
			want:   sqlite.ErrLogDamaged,
		},
		"garbage over a frame in the middle of the log": {
			image:  crashImage,
			damage: func(t *testing.T, path string) { overwrite(t, path+"-wal", 32+3*(24+4096)+100, garbage(1024)) },
			want:   sqlite.ErrLogDamaged,
		},
		"garbage over the database header": {
			image:  cleanImage,
			damage: func(t *testing.T, path string) { overwrite(t, path, 0, garbage(96)) },
			want:   sqlite.ErrCorrupt,
		},
		"garbage over a page inside the database": {
			image:  cleanImage,
			damage: func(t *testing.T, path string) { overwrite(t, path, 3*4096, garbage(4096)) },
			want:   sqlite.ErrCorrupt,
		},
		"a truncated database file": {
			image: cleanImage,
			damage: func(t *testing.T, path string) {
				if err := os.Truncate(path, fileSize(t, path)/2); err != nil {
					t.Fatal(err)
				}
			},
			want: sqlite.ErrCorrupt,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			path := tc.image(t)
			tc.damage(t, path)
			s, err := sqlite.Open(t.Context(), path, testLog(t))
			if tc.want == nil {
				if err != nil {
					t.Fatal(err)
				}
				defer s.Close()
				checkJournals(t, s)
				return
			}
			if err == nil {
				s.Close()
				t.Fatalf("Open succeeded, want an error wrapping %v", tc.want)
			}
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), path) {
				t.Fatalf("Open = %v, want an error wrapping %v that names %s", err, tc.want, path)
			}
		})
	}
}

// After a checkpoint SQLite writes the log again from its start, so a crash leaves frames
// of the new generation followed by older ones: that is not damage.
func TestAReusedLogIsNotDamage(t *testing.T) {
	live := filepath.Join(t.TempDir(), "datastore.sqlite3")
	s, err := sqlite.Open(t.Context(), live, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// About 6 MB: past SQLite's automatic checkpoint at 1,000 pages, so the log restarts.
	big := bytes.Repeat([]byte("x"), 150_000)
	for i := range 40 {
		if err := s.SetCAJournal(t.Context(), fmt.Sprintf("big-%d", i), big); err != nil {
			t.Fatal(err)
		}
	}
	writeJournals(t, s)
	path := filepath.Join(t.TempDir(), "datastore.sqlite3")
	for _, suffix := range []string{"", "-wal", "-shm", ".lock"} {
		copyFile(t, live+suffix, path+suffix)
	}
	if fileSize(t, path) < 1<<20 {
		t.Fatal("no checkpoint happened; the test needs a reused log")
	}
	crashed, err := sqlite.Open(t.Context(), path, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	defer crashed.Close()
	checkJournals(t, crashed)
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return info.Size()
}

func TestAcceptLossOpensADatabaseWhoseLogIsGone(t *testing.T) {
	path := crashImage(t)
	os.Remove(path + "-wal")
	s, err := sqlite.OpenWith(t.Context(), path, sqlite.Options{AcceptLoss: true}, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// Accepted once, the loss is not reported again.
	s, err = sqlite.Open(t.Context(), path, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
}

func TestBackupWhileOpenThenRestore(t *testing.T) {
	path := filepath.Join(t.TempDir(), "datastore.sqlite3")
	s, err := sqlite.Open(t.Context(), path, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	writeJournals(t, s)
	backup := filepath.Join(t.TempDir(), "backup.sqlite3")
	if err := sqlite.Backup(t.Context(), path, backup); err != nil {
		t.Fatal(err)
	}
	if err := sqlite.Backup(t.Context(), path, backup); err == nil {
		t.Fatal("a second backup overwrote the first")
	}
	if err := sqlite.Restore(t.Context(), backup, path); !errors.Is(err, sqlite.ErrInUse) {
		t.Fatalf("Restore over an open database = %v, want ErrInUse", err)
	}
	// Written after the backup: gone after the restore.
	if err := s.SetCAJournal(t.Context(), "later", []byte("x")); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if err := sqlite.Restore(t.Context(), backup, path); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	for _, e := range entries {
		if e.Name() != filepath.Base(path) {
			t.Errorf("restore left %s behind", e.Name())
		}
	}
	s, err = sqlite.Open(t.Context(), path, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	checkJournals(t, s)
	if _, err := s.FetchCAJournal(t.Context(), "later"); err == nil {
		t.Fatal("a journal written after the backup survived the restore")
	}
}

func TestRestoreRefusesWhatIsNotABackup(t *testing.T) {
	path := cleanImage(t)
	notDB := filepath.Join(t.TempDir(), "notes.txt")
	if err := os.WriteFile(notDB, garbage(4096), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := sqlite.Restore(t.Context(), notDB, path); !errors.Is(err, sqlite.ErrCorrupt) {
		t.Fatalf("Restore(garbage) = %v, want ErrCorrupt", err)
	}
	s, err := sqlite.Open(t.Context(), path, testLog(t))
	if err != nil {
		t.Fatalf("the database after a refused restore: %v", err)
	}
	defer s.Close()
	checkJournals(t, s)
}
