package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	entryv1 "github.com/spiffe/spire-api-sdk/proto/spire/api/server/entry/v1"
	"google.golang.org/protobuf/encoding/protojson"
)

func (d *domain) dbPath() string { return filepath.Join(d.dir, "server", "datastore.sqlite3") }

func (d *domain) serverConfig() string { return filepath.Join(d.dir, "server.yaml") }

// createDurableEntries stores 1,000 entries (two commits) through the CLI.
func (d *domain) createDurableEntries(batch string) {
	d.t.Helper()
	data, err := protojson.Marshal(&entryv1.BatchCreateEntryRequest{Entries: durableEntries(batch)})
	if err != nil {
		d.t.Fatal(err)
	}
	path := filepath.Join(d.dir, batch+".json")
	writeFile(d.t, path, string(data))
	d.cli("entry", "create", "-data", path)
}

// startFails runs the server and expects it to exit with an error instead of serving;
// it returns what the server printed.
func (d *domain) startFails() string {
	d.t.Helper()
	p := start(d.t, "lanyard-server", 0, nil, "run", "-config", d.serverConfig())
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		d.t.Fatalf("the server did not exit within 30s; it started over a damaged datastore:\n%s", p.Output())
	}
	if p.err == nil {
		d.t.Fatalf("the server exited 0 over a damaged datastore:\n%s", p.Output())
	}
	return p.Output()
}

func corrupt(t *testing.T, path string, off int64, n int) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt([]byte(strings.Repeat("#garbage", n/8)), off); err != nil {
		t.Fatal(err)
	}
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return info.Size()
}

// TestDamagedDatastoreNeverStartsANewCA damages the SQLite files of a server that has run
// (keys and server_id in data_dir, 1,000 entries in the datastore) the ways disks, people
// and crashes do, and checks that the server refuses to start, naming the file and the way
// out, instead of starting empty with a new CA or panicking.
func TestDamagedDatastoreNeverStartsANewCA(t *testing.T) {
	tests := map[string]struct {
		kill   bool // kill -9 (data in the write-ahead log) instead of a clean stop
		damage func(t *testing.T, db string)
		want   []string
	}{
		"the -wal and -shm files deleted after kill -9": {
			kill: true,
			damage: func(t *testing.T, db string) {
				for _, suffix := range []string{"-wal", "-shm"} {
					if err := os.Remove(db + suffix); err != nil {
						t.Fatal(err)
					}
				}
			},
			want: []string{"write-ahead log", "is missing", "-forceNew", "datastore restore"},
		},
		"garbage in the write-ahead log after kill -9": {
			kill:   true,
			damage: func(t *testing.T, db string) { corrupt(t, db+"-wal", fileSize(t, db+"-wal")/3, 8192) },
			want:   []string{"write-ahead log", "damaged", "-forceNew", "datastore restore"},
		},
		"an empty database file": {
			damage: func(t *testing.T, db string) {
				if err := os.Truncate(db, 0); err != nil {
					t.Fatal(err)
				}
			},
			want: []string{"holds no CA state", "-forceNew", "datastore restore"},
		},
		"an empty database file after kill -9": {
			kill: true,
			damage: func(t *testing.T, db string) {
				if err := os.Truncate(db, 0); err != nil {
					t.Fatal(err)
				}
			},
			want: []string{"holds no CA state", "-forceNew", "datastore restore"},
		},
		"garbage in the database header": {
			damage: func(t *testing.T, db string) { corrupt(t, db, 0, 96) },
			want:   []string{"file is not a database", "move the damaged file aside", "datastore restore"},
		},
		"a truncated database file": {
			damage: func(t *testing.T, db string) {
				if err := os.Truncate(db, fileSize(t, db)/2); err != nil {
					t.Fatal(err)
				}
			},
			want: []string{"corrupt", "move the damaged file aside", "datastore restore"},
		},
		"a directory at the database path": {
			damage: func(t *testing.T, db string) {
				if err := os.Remove(db); err != nil {
					t.Fatal(err)
				}
				if err := os.Mkdir(db, 0o700); err != nil {
					t.Fatal(err)
				}
			},
			want: []string{"is a directory", "move the damaged file aside", "datastore restore"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			d := newDomain(t, "durable.example")
			d.startServer()
			d.createDurableEntries("before")
			if tc.kill {
				d.kill9()
				if fileSize(t, d.dbPath()+"-wal") == 0 {
					t.Fatal("the write-ahead log is empty after kill -9; the test needs data in it")
				}
			} else {
				d.server.stop()
			}
			tc.damage(t, d.dbPath())
			out := d.startFails()
			if strings.Contains(out, "panic") {
				t.Fatalf("the server panicked:\n%s", out)
			}
			for _, want := range append(tc.want, d.dbPath()) {
				if !strings.Contains(out, want) {
					t.Errorf("the server's error does not mention %q:\n%s", want, out)
				}
			}
			keys, _ := filepath.Glob(filepath.Join(d.dir, "server", "keys", "*.pem"))
			if len(keys) != 3 {
				t.Errorf("data_dir/keys holds %d keys after the refused start, want the 3 it had (X.509 CA, JWT, WIT)", len(keys))
			}
		})
	}
}

// TestBackupWhileWritingThenRestore backs up a server's datastore with `datastore backup`
// while writers keep adding entries, restores it with the server stopped and checks that
// every entry acknowledged before the backup began is there and the CA is the same.
func TestBackupWhileWritingThenRestore(t *testing.T) {
	d := newDomain(t, "durable.example")
	d.startServer()
	bundleBefore := d.cli("bundle", "show")

	var mu sync.Mutex
	acked := map[string]bool{}
	ackedBatches := make(chan struct{}, 100)
	writerDone := make(chan error, writers)
	for w := range writers {
		go func() { writerDone <- d.writeBatches(w, &mu, acked, ackedBatches) }()
	}
	waitBatch := func() {
		select {
		case <-ackedBatches:
		case err := <-writerDone:
			t.Fatalf("a writer stopped: %v", err)
		case <-time.After(120 * time.Second):
			t.Fatal("no batch was acknowledged within 120s")
		}
	}
	waitBatch()
	mu.Lock()
	before := make([]string, 0, len(acked))
	for id := range acked {
		before = append(before, id)
	}
	mu.Unlock()
	backup := filepath.Join(d.dir, "backup.sqlite3")
	out, err := run(t, "lanyard-server", 0, nil, "datastore", "backup", "-config", d.serverConfig(), backup)
	if err != nil {
		t.Fatal(err)
	}
	t.Log(strings.TrimSpace(out))
	waitBatch() // the writers went on during and after the backup

	if _, err := run(t, "lanyard-server", 0, nil, "datastore", "restore", "-config", d.serverConfig(), backup); err == nil ||
		!strings.Contains(err.Error(), "in use") {
		t.Fatalf("restore over a running server: %v, want a refusal", err)
	}
	d.server.stop()
	for range writers {
		<-writerDone
	}
	if _, err := run(t, "lanyard-server", 0, nil, "datastore", "restore", "-config", d.serverConfig(), backup); err != nil {
		t.Fatal(err)
	}
	d.startServer()
	if after := d.cli("bundle", "show"); after != bundleBefore {
		t.Fatal("the CA changed across backup and restore")
	}
	stored := storedEntryIDs(t, d.adminSock)
	for _, id := range before {
		if !stored[id] {
			t.Fatalf("entry %s was acknowledged before the backup but is missing after the restore", id)
		}
	}
	t.Logf("%d entries acknowledged before the backup began, %d restored", len(before), len(stored))
}
