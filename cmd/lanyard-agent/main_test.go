package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestValidateUsesTheAgentsParser: the shared validate command (tested in
// internal/command) is wired to lanyard-agent's own parser and spire-agent's flags.
func TestValidateUsesTheAgentsParser(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(bad, []byte("trust_domain: example.org\nnode_attestor: tpm\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for args, want := range map[string]string{
		"validate -trustDomain example.org -joinToken abc -serverAddress lanyard": "Configuration is valid",
		"validate -config " + bad: "node_attestor",
		"validate -trustDomain example.org -joinToken abc -serverPort x": "-serverPort",
	} {
		var out bytes.Buffer
		run(context.Background(), strings.Fields(args), &out, &out)
		if !strings.Contains(out.String(), want) {
			t.Errorf("%s: output %q, want it to mention %q", args, out.String(), want)
		}
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
