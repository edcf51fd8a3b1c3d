package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/svid/jwtsvid"
	"github.com/spiffe/go-spiffe/v2/workloadapi"

	"github.com/lanyard-dev/lanyard/agent/cli"
	"github.com/lanyard-dev/lanyard/internal/loglevel"
	"github.com/lanyard-dev/lanyard/internal/poll"
)

// adminCLI runs `lanyard-agent <args> -socketPath <sock>` and returns its output; it
// fails the test unless the exit code is want.
func adminCLI(t *testing.T, sock string, want int, args ...string) string {
	t.Helper()
	var out, errOut bytes.Buffer
	if code := cli.Run(t.Context(), append(args, "-socketPath", sock), &out, &errOut); code != want {
		t.Fatalf("lanyard-agent %s: exit %d, want %d; stderr: %s", strings.Join(args, " "), code, want, errOut.String())
	}
	return out.String() + errOut.String()
}

// TestAdminSocketChangesTheLogLevelAndReportsTheAgent drives the agent's admin socket
// with lanyard-agent's own CLI: logger set changes the level the running agent logs at
// (its debug lines appear), reset restores it, and debug reports uptime, the last sync,
// the cached SVIDs and the agent's own SVID.
func TestAdminSocketChangesTheLogLevelAndReportsTheAgent(t *testing.T) {
	e := newEnv(t)
	cfg, agentID := e.agentConfig()
	adminDir, err := os.MkdirTemp("", "lanyard-admin-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(adminDir) })
	cfg.AdminSocketPath = filepath.Join(adminDir, "agent.sock")
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	e.entry("svc", agentID, 0)
	levels := loglevel.New(slog.LevelInfo)
	a := e.startAgent(cfg, WithLogLevels(levels))
	a.servesID(t, "svc")
	sock := cfg.AdminSocketPath
	if fi, err := os.Stat(sock); err != nil || fi.Mode().Type() != fs.ModeSocket || fi.Mode().Perm() != 0o600 {
		t.Fatalf("admin socket: %v, %v; want a socket with mode 0600", fi, err)
	}

	if out := adminCLI(t, sock, 0, "logger", "get"); out != "Logger Level : info\nLaunch Level : info\n" {
		t.Fatalf("logger get:\n%s", out)
	}
	if a.log.Contains("workload attested") {
		t.Fatalf("the agent logged a debug line at level info:\n%s", a.log.String())
	}
	if out := adminCLI(t, sock, 0, "logger", "set", "-level", "debug"); out != "Logger Level : debug\nLaunch Level : info\n" {
		t.Fatalf("logger set -level debug:\n%s", out)
	}
	a.servesID(t, "svc")
	if !a.log.Contains("workload attested") {
		t.Fatalf("after logger set -level debug the agent logs no debug line:\n%s", a.log.String())
	}
	if out := adminCLI(t, sock, 0, "logger", "get", "-output", "json"); !strings.Contains(out, `"current_level":"DEBUG"`) || !strings.Contains(out, `"launch_level":"INFO"`) {
		t.Fatalf("logger get -output json: %s", out)
	}
	if out := adminCLI(t, sock, 1, "logger", "set", "-level", "verbose"); !strings.Contains(out, `-level: log level "verbose": use one of trace, debug`) {
		t.Fatalf("logger set -level verbose: %s", out)
	}
	if out := adminCLI(t, sock, 0, "logger", "reset"); out != "Logger Level : info\nLaunch Level : info\n" || levels.Leveler().Level() != slog.LevelInfo {
		t.Fatalf("logger reset: %s (handler level %v)", out, levels.Leveler().Level())
	}

	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if _, err := workloadapi.FetchJWTSVID(ctx, jwtsvid.Params{Audience: "admin-test"}, workloadapi.WithAddr("unix://"+cfg.SocketPath)); err != nil {
		t.Fatal(err)
	}
	a.clock.Step(90 * time.Second)
	out := adminCLI(t, sock, 0, "debug")
	for _, want := range []string{"Uptime             : 1m30s\n", "Cached X.509-SVIDs : 1\n", "Cached JWT-SVIDs   : 1\n",
		"SVID chain [0]     : " + agentID.String()} {
		if !strings.Contains(out, want) {
			t.Errorf("debug output lacks %q:\n%s", want, out)
		}
	}
	type getInfo struct {
		Uptime          int   `json:"uptime"`
		LastSyncSuccess int64 `json:"last_sync_success,string"`
		X509            int   `json:"cached_x509_svids_count"`
		SVIDChain       []struct {
			ID        struct{ TrustDomain, Path string }
			ExpiresAt int64 `json:"expires_at,string"`
		} `json:"svid_chain"`
	}
	debugJSON := func() getInfo {
		var info getInfo
		if err := json.Unmarshal([]byte(adminCLI(t, sock, 0, "debug", "-output", "json")), &info); err != nil {
			t.Fatal(err)
		}
		return info
	}
	// The push stream is up: the agent holds the server's current entries now, however
	// long the server has had nothing to push.
	info := debugJSON()
	if info.Uptime != 90 || info.X509 != 1 || info.LastSyncSuccess != a.clock.Now().Unix() ||
		len(info.SVIDChain) != 1 || info.SVIDChain[0].ID.Path != agentID.Path() || info.SVIDChain[0].ExpiresAt <= a.clock.Now().Unix() {
		t.Fatalf("debug -output json: %+v (now %d)", info, a.clock.Now().Unix())
	}
	// Without the server the last sync stays where the stream was lost.
	e.stopServer()
	poll.Until(t, 30*time.Second, "the agent to lose the entry stream", func() bool {
		return a.log.Contains("lost the server's entry stream")
	})
	lost := a.clock.Now().Unix()
	a.clock.Step(10 * time.Minute)
	if info := debugJSON(); info.LastSyncSuccess != lost || info.Uptime != 690 {
		t.Fatalf("debug -output json 10 minutes after the server stopped: %+v, want last_sync_success %d", info, lost)
	}

	e.shutdown(a)
	if _, err := os.Lstat(sock); !os.IsNotExist(err) {
		t.Fatalf("the admin socket outlived the agent: %v", err)
	}
}

// TestAdminSocketIsOffByDefault: without admin_socket_path the agent opens no socket but
// the Workload API's, and the CLI says where to look.
func TestAdminSocketIsOffByDefault(t *testing.T) {
	e := newEnv(t)
	cfg, agentID := e.agentConfig()
	e.entry("svc", agentID, 0)
	a := e.startAgent(cfg)
	a.servesID(t, "svc")
	var sockets []string
	err := filepath.WalkDir(e.dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type() == fs.ModeSocket {
			sockets = append(sockets, p)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{e.srvCfg.AdminSocketPath, cfg.SocketPath}
	if strings.Join(sockets, " ") != strings.Join(want, " ") {
		t.Fatalf("sockets under %s: %q; want only the server's admin socket and the Workload API socket %q", e.dir, sockets, want)
	}
	if out := adminCLI(t, filepath.Join(e.dir, "admin-agent.sock"), 1, "debug"); !strings.Contains(out, "cannot reach agent admin socket at") ||
		!strings.Contains(out, "is lanyard-agent running?") {
		t.Fatalf("debug without an admin socket: %s", out)
	}
	if out := adminCLI(t, "", 1, "logger", "get"); !strings.Contains(out, "-socketPath is required: the agent's admin_socket_path") {
		t.Fatalf("logger get without -socketPath: %s", out)
	}
	e.shutdown(a)
}

// TestAdminSocketInAnotherUsersDirectoryIsRefused: whoever owns the directory could swap
// the admin socket for their own, so the agent does not start.
func TestAdminSocketInAnotherUsersDirectoryIsRefused(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to hand the directory to another user")
	}
	e := newEnv(t)
	cfg, _ := e.agentConfig()
	base, err := os.MkdirTemp("", "lanyard-admin-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	taken := filepath.Join(base, "taken")
	if err := os.Mkdir(taken, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(taken, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	cfg.AdminSocketPath = filepath.Join(taken, "agent.sock")
	a := e.startAgent(cfg)
	select {
	case err = <-a.done:
		a.done <- nil // for the cleanup
	case <-time.After(30 * time.Second):
		t.Fatal("the agent is still running with its admin socket in a directory uid 65534 owns")
	}
	for _, want := range []string{"admin_socket_path", taken, "owned by uid 65534"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("run: %v; want it to name %q", err, want)
		}
	}
	if _, statErr := os.Lstat(cfg.AdminSocketPath); statErr == nil {
		t.Fatal("a socket was created in the untrusted directory")
	}
}
