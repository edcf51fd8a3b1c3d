package server

import (
	"context"
	"crypto/x509"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lanyard-dev/lanyard/server/config"
	"github.com/lanyard-dev/lanyard/server/datastore/postgres/pgtest"
)

// ranBefore is a configuration whose data_dir holds a server's keys and server_id and whose
// datastore holds one entry: the state a restart must keep.
func ranBefore(t *testing.T) (config.Config, *x509.Certificate) {
	t.Helper()
	return ranBeforeWith(t, newConfig(t))
}

// ranBeforeWith is ranBefore with the configuration cfg.
func ranBeforeWith(t *testing.T, cfg config.Config) (config.Config, *x509.Certificate) {
	t.Helper()
	ts := startServer(t, cfg)
	_, agentID := ts.attestedAgent()
	ts.createEntries(entry("/web", agentID, "unix:uid:1000"))
	ca := ts.bundle().X509Authorities()[0]
	ts.stop()
	return cfg, ca
}

func startErr(t *testing.T, cfg config.Config) error {
	t.Helper()
	srv, err := Start(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err == nil {
		srv.Stop()
		srv.Wait()
	}
	return err
}

func TestStartRefusesANewCAOverExistingState(t *testing.T) {
	tests := map[string]struct {
		damage func(t *testing.T, path string)
		want   []string
	}{
		"an empty database file": {
			damage: func(t *testing.T, path string) {
				if err := os.WriteFile(path, nil, 0o600); err != nil {
					t.Fatal(err)
				}
			},
			want: []string{"holds no CA state", "-forceNew", "datastore restore", "datastore.sqlite3"},
		},
		"a missing database file": {
			damage: func(t *testing.T, path string) { os.Remove(path) },
			want:   []string{"holds no CA state", "-forceNew", "datastore restore", "datastore.sqlite3"},
		},
		"keys without their server_id": {
			damage: func(t *testing.T, path string) {
				if err := os.Remove(filepath.Join(filepath.Dir(path), "server_id")); err != nil {
					t.Fatal(err)
				}
			},
			want: []string{"3 CA keys (X.509, JWT, WIT) but no server_id file", "-forceNew", "restore server_id"},
		},
		"a directory at the database path": {
			damage: func(t *testing.T, path string) {
				os.Remove(path)
				if err := os.Mkdir(path, 0o700); err != nil {
					t.Fatal(err)
				}
			},
			want: []string{"is a directory", "move the damaged file aside", "datastore restore", "datastore.sqlite3"},
		},
		"garbage in the database header": {
			damage: func(t *testing.T, path string) {
				f, err := os.OpenFile(path, os.O_WRONLY, 0)
				if err != nil {
					t.Fatal(err)
				}
				defer f.Close()
				if _, err := f.WriteAt([]byte(strings.Repeat("garbage!", 12)), 0); err != nil {
					t.Fatal(err)
				}
			},
			want: []string{"file is not a database", "move the damaged file aside", "datastore restore", "datastore.sqlite3"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			cfg, _ := ranBefore(t)
			path := cfg.Datastore.ConnectionString
			tc.damage(t, path)
			err := startErr(t, cfg)
			if err == nil {
				t.Fatal("the server started over a damaged datastore")
			}
			for _, want := range append(tc.want, cfg.DataDir) {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not mention %q", err, want)
				}
			}
		})
	}
}

func TestForceNewBeginsANewCA(t *testing.T) {
	cfg, before := ranBefore(t)
	os.Remove(cfg.Datastore.ConnectionString)
	cfg.ForceNew = true
	after := startServer(t, cfg).bundle().X509Authorities()
	if len(after) != 1 || after[0].Equal(before) {
		t.Fatalf("after -forceNew the bundle holds %d CAs, want one new one", len(after))
	}
}

func TestANewServerStartsOnAnEmptyDataDir(t *testing.T) {
	cfg := newConfig(t)
	if err := startErr(t, cfg); err != nil {
		t.Fatal(err)
	}
	// And it starts again over its own state.
	if err := startErr(t, cfg); err != nil {
		t.Fatal(err)
	}
}

// A first start can fail after writing server_id and before making the CA (a wrong
// upstream_authority file): the next start is still a first start.
func TestAServerIDAloneIsNoPriorState(t *testing.T) {
	cfg := newConfig(t)
	if err := os.WriteFile(filepath.Join(cfg.DataDir, "server_id"), []byte("0123456789abcdef0123456789abcdef\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := startErr(t, cfg); err != nil {
		t.Fatal(err)
	}
}

// A server whose PostgreSQL database was dropped and re-created (or whose
// connection_string now names another database) refuses too.
func TestStartRefusesAnEmptyPostgresDatabaseUnderExistingState(t *testing.T) {
	pg := pgtest.Start(t)
	cfg := newConfigFor(t, testTD.Name(), fmt.Sprintf("datastore:\n  type: postgres\n  connection_string: %q\n", pg.NewDatabase(t)))
	startServer(t, cfg).stop()
	cfg.Datastore.ConnectionString = pg.NewDatabase(t)
	err := startErr(t, cfg)
	if err == nil || !strings.Contains(err.Error(), "holds no CA state") || !strings.Contains(err.Error(), "postgres database") {
		t.Fatalf("Start over an empty database = %v, want a refusal naming the database", err)
	}
}
