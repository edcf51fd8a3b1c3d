package cli

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/lanyard-dev/lanyard/server"
	"github.com/lanyard-dev/lanyard/server/config"
)

// newServerHarness runs the real lanyard-server in-process (memory keys, a real SQLite
// file, the admin API on a temp unix socket) for the CLI to talk to.
func newServerHarness(t *testing.T, opts ...server.Option) *harness {
	t.Helper()
	dir, err := os.MkdirTemp("", "lanyard-cli-srv-") // short: unix socket paths are limited
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	sock := filepath.Join(dir, "admin.sock")
	cfg, err := config.Parse([]byte("trust_domain: " + fakeTrustDomain + "\nbind_port: 0\nhealth_address: \"\"\nkey_manager: memory\n" +
		"oidc:\n  address: \"\"\ndata_dir: " + filepath.Join(dir, "data") + "\nadmin_socket_path: " + sock + "\n"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	srv, err := server.Start(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), opts...)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		if err := srv.Wait(); err != nil {
			t.Errorf("server: %v", err)
		}
	})
	return &harness{t: t, sock: sock}
}
