package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestValidateNamesTheBadField(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(good, []byte("trust_domain: example.org\njoin_token: abc\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bad, []byte("trust_domain: example.org\nnode_attestor: tpm\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name, path, want string
		code             int
	}{
		{"a valid file passes", good, "Configuration is valid", 0},
		{"an invalid file names the field", bad, "node_attestor", 1},
		{"a missing file is reported", filepath.Join(dir, "none.yaml"), "reading -config", 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			code := run(context.Background(), []string{"validate", "-config", tt.path}, &out, &errOut)
			if code != tt.code || !strings.Contains(out.String()+errOut.String(), tt.want) {
				t.Fatalf("exit %d, stdout %q, stderr %q; want exit %d mentioning %q", code, out.String(), errOut.String(), tt.code, tt.want)
			}
		})
	}
}

// TestAdminSocketBesideTheWorkloadAPIIsRefused: workloads reach the Workload API socket's
// directory, so the agent will not start with its admin socket there.
func TestAdminSocketBesideTheWorkloadAPIIsRefused(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "agent.yaml")
	yaml := "trust_domain: example.org\njoin_token: abc\nsocket_path: " + filepath.Join(dir, "public", "api.sock") +
		"\nadmin_socket_path: " + filepath.Join(dir, "public", "admin.sock") + "\n"
	if err := os.WriteFile(conf, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	code := run(context.Background(), []string{"run", "-config", conf}, &out, &errOut)
	if code != 1 || !strings.Contains(errOut.String(), "admin_socket_path") || !strings.Contains(errOut.String(), "which workloads can reach") {
		t.Fatalf("exit %d, stderr %q; want the agent to refuse admin_socket_path", code, errOut.String())
	}
	if _, err := os.Stat(filepath.Join(dir, "public")); !os.IsNotExist(err) {
		t.Fatalf("the refused agent created its socket directory: %v", err)
	}
}
