package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestUsage(t *testing.T) {
	t.Run("help lists every command on stdout", func(t *testing.T) {
		r := runCLI("", "help").wantOK(t)
		for _, c := range table.Commands {
			if !strings.Contains(r.stdout, c.Name) {
				t.Errorf("usage lacks %q:\n%s", c.Name, r.stdout)
			}
		}
	})
	t.Run("an unknown command prints usage on stderr and exits 1", func(t *testing.T) {
		r := runCLI("", "entry", "frobnicate")
		first, _, _ := strings.Cut(r.stderr, "\n")
		if r.code != 1 || !strings.HasPrefix(first, `Error: unknown command "entry frobnicate"`) || !strings.Contains(r.stderr, "healthcheck") {
			t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
		}
	})
	t.Run("no command at all prints usage on stderr and exits 1", func(t *testing.T) {
		r := runCLI("")
		if r.code != 1 || !strings.Contains(r.stderr, "entry create") {
			t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
		}
	})
	t.Run("-h on a command prints its flags on stdout", func(t *testing.T) {
		r := runCLI("", "entry", "create", "-h").wantOK(t)
		for _, flag := range []string{"-spiffeID", "-parentID", "-selector", "-x509SVIDTTL", "-socketPath", "-data"} {
			if !strings.Contains(r.stdout, flag) {
				t.Errorf("entry create -h lacks %s:\n%s", flag, r.stdout)
			}
		}
	})
}

// Bad flags are caught before the CLI dials: against a socket nobody listens on, each
// fails with its own message, not "cannot reach".
func TestBadFlagsFailBeforeCallingTheServer(t *testing.T) {
	h := newUnreachable(t)
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"entry create without -spiffeID", []string{"entry", "create", "-parentID", "spiffe://example.org/a", "-selector", "unix:uid:1"}, "Error: -spiffeID is required"},
		{"entry create with a selector lacking a value", []string{"entry", "create", "-spiffeID", "spiffe://example.org/w", "-parentID", "spiffe://example.org/a", "-selector", "unix"}, `-selector "unix" must look like type:value`},
		{"entry create without a parent", []string{"entry", "create", "-spiffeID", "spiffe://example.org/w", "-selector", "unix:uid:1"}, "-parentID is required"},
		{"entry create with both -node and -parentID", []string{"entry", "create", "-spiffeID", "spiffe://example.org/w", "-node", "-parentID", "spiffe://example.org/a", "-selector", "k8s_psat:cluster:c1"}, "not both"},
		{"entry create without selectors", []string{"entry", "create", "-spiffeID", "spiffe://example.org/w", "-parentID", "spiffe://example.org/a"}, "at least one -selector is required"},
		{"entry create with a malformed SPIFFE ID", []string{"entry", "create", "-spiffeID", "example.org/w", "-parentID", "spiffe://example.org/a", "-selector", "unix:uid:1"}, `-spiffeID "example.org/w" is not a SPIFFE ID`},
		{"entry create with a negative TTL", []string{"entry", "create", "-spiffeID", "spiffe://example.org/w", "-parentID", "spiffe://example.org/a", "-selector", "unix:uid:1", "-x509SVIDTTL", "-5"}, "-x509SVIDTTL must be a number of seconds"},
		{"entry create with -data and entry flags", []string{"entry", "create", "-data", "x.json", "-spiffeID", "spiffe://example.org/w"}, "-data cannot be combined with -spiffeID"},
		{"entry create with a missing -data file", []string{"entry", "create", "-data", "/nonexistent/entries.json"}, "reading -data"},
		{"entry show with an unknown -output", []string{"entry", "show", "-output", "xml"}, `-output must be pretty or json, not "xml"`},
		{"entry show with an unknown match mode", []string{"entry", "show", "-selector", "unix:uid:1", "-matchSelectorsOn", "most"}, `-matchSelectorsOn must be exact, subset, superset or any, not "most"`},
		{"entry show with -entryID and a filter", []string{"entry", "show", "-entryID", "e1", "-spiffeID", "spiffe://example.org/w"}, "-entryID cannot be combined with -spiffeID"},
		{"entry show with an undefined flag", []string{"entry", "show", "-colour"}, "entry show: flag provided but not defined: -colour"},
		{"entry show with a stray argument", []string{"entry", "show", "spiffe://example.org/w"}, `unexpected argument "spiffe://example.org/w"`},
		{"entry update without -entryID", []string{"entry", "update", "-spiffeID", "spiffe://example.org/w", "-parentID", "spiffe://example.org/a", "-selector", "unix:uid:1"}, "-entryID is required"},
		{"entry delete without an ID", []string{"entry", "delete"}, "-entryID is required"},
		{"agent show without -spiffeID", []string{"agent", "show"}, "-spiffeID is required"},
		{"agent list with a malformed selector", []string{"agent", "list", "-selector", ":x"}, `-selector ":x" must look like type:value`},
		{"token generate with a zero TTL", []string{"token", "generate", "-ttl", "0"}, "-ttl must be a positive number of seconds"},
		{"token generate with a non-numeric TTL", []string{"token", "generate", "-ttl", "10m"}, `invalid value "10m" for flag -ttl`},
		{"bundle show with an unknown format", []string{"bundle", "show", "-format", "der"}, `-format must be pem or spiffe, not "der"`},
		{"bundle set without -id", []string{"bundle", "set", "-path", "b.pem"}, "-id is required"},
		{"bundle set with a bad trust domain", []string{"bundle", "set", "-id", "Not A Domain", "-path", "b.pem"}, `-id "Not A Domain" is not a trust domain`},
		{"bundle delete with an unknown mode", []string{"bundle", "delete", "-id", "other.org", "-mode", "force"}, `-mode must be restrict, delete or dissociate, not "force"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h.run(tt.args...).wantError(t, tt.want)
		})
	}
}

func TestUnreachableSocket(t *testing.T) {
	dir, err := os.MkdirTemp("", "lanyard-cli-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	stale := filepath.Join(dir, "stale.sock")
	if err := os.WriteFile(stale, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing.sock")
	tests := []struct {
		name string
		path string
	}{
		{"no socket file at the path", missing},
		{"a file nobody listens on", stale},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runCLI("", "entry", "show", "-socketPath", tt.path)
			r.wantError(t, "cannot reach server admin socket at "+tt.path+": is lanyard-server running?")
		})
	}
}

func TestSocketInAnotherUsersDirectoryIsNotTrusted(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to hand the directory to another user")
	}
	h := newHarness(t)
	// As if uid 65534 had pre-created the directory and put its own server there.
	if err := os.Chown(filepath.Dir(h.sock), 65534, 65534); err != nil {
		t.Fatal(err)
	}
	// adminclient checks the directory before it opens a gRPC connection, so no call is
	// made to a server found there.
	h.run("bundle", "show").wantError(t, "is owned by uid 65534")
}
