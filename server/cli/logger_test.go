package cli

import (
	"encoding/json"
	"log/slog"
	"strings"
	"testing"

	"github.com/lanyard-dev/lanyard/internal/loglevel"
	"github.com/lanyard-dev/lanyard/server"
)

func TestLoggerCommandsChangeTheRunningServersLevel(t *testing.T) {
	levels := loglevel.New(slog.LevelInfo)
	h := newHarness(t, server.WithLogLevels(levels))

	if out := h.run("logger", "get").wantOK(t).stdout; out != "Logger Level : info\nLaunch Level : info\n" {
		t.Fatalf("logger get:\n%s", out)
	}
	h.run("logger", "set", "-level", "debug").wantOK(t)
	if got := levels.Leveler().Level(); got != slog.LevelDebug {
		t.Fatalf("after logger set -level debug the handler level is %v", got)
	}
	if out := h.run("logger", "get", "-output", "json").wantOK(t).stdout; !strings.Contains(out, `"current_level":"DEBUG"`) || !strings.Contains(out, `"launch_level":"INFO"`) {
		t.Fatalf("logger get -output json: %s", out)
	}
	h.run("logger", "set", "-level", "verbose").wantError(t, `-level: log level "verbose": use one of trace, debug`)
	h.run("logger", "reset").wantOK(t)
	if got := levels.Leveler().Level(); got != slog.LevelInfo {
		t.Fatalf("after logger reset the handler level is %v", got)
	}
}

func TestDebugShowsCountsAndTheServerSVID(t *testing.T) {
	h := newHarness(t)
	h.run("entry", "create", "-parentID", "spiffe://"+testTrustDomain+"/agent", "-spiffeID", "spiffe://"+testTrustDomain+"/w",
		"-selector", "unix:uid:1").wantOK(t)
	out := h.run("debug").wantOK(t).stdout
	for _, want := range []string{"Entries           : 1\n", "Agents            : 0\n", "spiffe://" + testTrustDomain + "/spire/server"} {
		if !strings.Contains(out, want) {
			t.Errorf("debug output lacks %q:\n%s", want, out)
		}
	}
	var info struct {
		EntriesCount int `json:"entries_count"`
		SVIDChain    []struct {
			ExpiresAt string `json:"expires_at"`
		} `json:"svid_chain"`
	}
	if err := json.Unmarshal([]byte(h.run("debug", "-output", "json").wantOK(t).stdout), &info); err != nil {
		t.Fatal(err)
	}
	if info.EntriesCount != 1 || len(info.SVIDChain) == 0 {
		t.Fatalf("debug json: %+v", info)
	}
}

func TestLoggerIsUnimplementedWithoutLevelControl(t *testing.T) {
	h := newHarness(t)
	h.run("logger", "get").wantError(t, "Unimplemented")
}
