package e2e

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const uidAdminWorkload = 41301

// TestAgentAdminSocketChangesTheRunningAgent drives a real lanyard-agent's admin socket
// with `lanyard-agent logger|debug`: the agent starts at info, logs its debug lines once
// `logger set -level debug` ran, `logger reset` returns it to info; `debug` shows the cached
// SVID and the agent's own ID. A configuration putting the admin socket beside the
// Workload API socket is refused by the binary.
func TestAgentAdminSocketChangesTheRunningAgent(t *testing.T) {
	requireRoot(t)
	d := newDomain(t, "agent-admin.test")
	d.startServer()
	out := d.cli("token", "generate", "-ttl", "600")
	token := strings.TrimSpace(strings.TrimPrefix(lines(out, "Token:")[0], "Token:"))
	d.agentID = fmt.Sprintf("spiffe://%s/spire/agent/join_token/%s", d.td, token)
	adminSock := filepath.Join(d.dir, "agent-admin", "admin.sock")
	conf := d.agentConfig("agent", "join_token: "+token+"\nadmin_socket_path: "+adminSock+"\n")
	data, err := os.ReadFile(conf)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, conf, strings.Replace(string(data), "log_level: debug\n", "log_level: info\n", 1))
	d.agent = start(t, "lanyard-agent", 0, nil, "run", "-config", conf)
	d.waitAgentSocket()
	d.entry("svc", uidAdminWorkload)
	fetch := func() bool {
		out, err := d.runWorkload(uidAdminWorkload, "x509")
		return err == nil && strings.Contains(out, d.id("svc"))
	}
	eventually(t, 60*time.Second, "the workload's X.509-SVID", fetch)
	if fi, err := os.Stat(adminSock); err != nil || fi.Mode().Type() != fs.ModeSocket || fi.Mode().Perm() != 0o600 {
		t.Fatalf("admin socket: %v, %v; want a socket with mode 0600", fi, err)
	}
	agentCLI := func(args ...string) string {
		t.Helper()
		out, err := run(t, "lanyard-agent", 0, nil, append(args, "-socketPath", adminSock)...)
		if err != nil {
			t.Fatalf("lanyard-agent %s: %v", strings.Join(args, " "), err)
		}
		return out
	}
	const debugLine = "level=DEBUG msg=\"workload attested\""
	if strings.Contains(d.agent.Output(), debugLine) {
		t.Fatalf("the agent logged at debug while at info:\n%s", d.agent.Output())
	}
	if out := agentCLI("logger", "set", "-level", "debug"); out != "Logger Level : debug\nLaunch Level : info\n" {
		t.Fatalf("logger set -level debug:\n%s", out)
	}
	eventually(t, 30*time.Second, "a debug line from the agent", func() bool {
		return fetch() && strings.Contains(d.agent.Output(), debugLine)
	})
	if out := agentCLI("logger", "reset"); out != "Logger Level : info\nLaunch Level : info\n" {
		t.Fatalf("logger reset:\n%s", out)
	}
	out = agentCLI("debug")
	for _, want := range []string{"Uptime             : ", "Last sync          : 20", "Cached X.509-SVIDs : 1\n", "SVID chain [0]     : " + d.agentID} {
		if !strings.Contains(out, want) {
			t.Errorf("debug output lacks %q:\n%s", want, out)
		}
	}

	bad := d.agentConfig("beside", "join_token: unused\nadmin_socket_path: "+filepath.Join(filepath.Dir(d.socket), "admin.sock")+"\n")
	if out, err := run(t, "lanyard-agent", 0, nil, "run", "-config", bad); err == nil || !strings.Contains(err.Error(), "admin_socket_path") {
		t.Fatalf("an agent with its admin socket beside the Workload API socket started: %q, %v", out, err)
	}
}
