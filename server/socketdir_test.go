package server

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestServerRefusesAnAdminSocketDirectoryAnotherUserOwns(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to hand the directory to another user")
	}
	cfg := newConfig(t)
	// uid 65534 got there first, as it could under /tmp, and may swap the socket later.
	dir := filepath.Join(filepath.Dir(cfg.AdminSocketPath), "taken")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(dir, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	cfg.AdminSocketPath = filepath.Join(dir, "admin.sock")
	srv, err := Start(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err == nil {
		srv.Stop()
		_ = srv.Wait()
		t.Fatal("the server started with its admin socket in a directory uid 65534 owns")
	}
	for _, want := range []string{"admin_socket_path", dir, "owned by uid 65534"} {
		if !strings.Contains(err.Error(), want) {
			t.Fatalf("Start: %v; want it to name %q", err, want)
		}
	}
	if _, statErr := os.Lstat(cfg.AdminSocketPath); statErr == nil {
		t.Fatal("a socket was created in the untrusted directory")
	}
}
