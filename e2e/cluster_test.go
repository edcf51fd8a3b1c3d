package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lanyard-dev/lanyard/internal/freeport"
)

// domain is one trust domain's server and agent, all real processes.
type domain struct {
	t          *testing.T
	td         string
	dir        string
	adminSock  string
	serverPort int
	server     *proc
	agent      *proc
	agentID    string
	socket     string // Workload API socket
	// agentExtra is extra agent configuration (YAML), e.g. several server addresses.
	agentExtra string
}

func newDomain(t *testing.T, td string) *domain {
	return newDomainWith(t, td, "")
}

// newDomainWith is newDomain with extra server configuration (YAML). The OIDC endpoint is
// off unless extra configures it, so that parallel tests do not compete for its port.
func newDomainWith(t *testing.T, td, extra string) *domain {
	d := &domain{t: t, td: td, dir: sharedDir(t), serverPort: freeport.Loopback(t)}
	d.adminSock = filepath.Join(d.dir, "admin.sock")
	d.socket = filepath.Join(d.dir, "agent", "api.sock")
	d.configureServer(extra)
	return d
}

// configureServer writes the server's configuration with extra YAML appended. The OIDC
// endpoint is off unless extra configures it, so that parallel tests do not compete for
// its port.
func (d *domain) configureServer(extra string) {
	if !strings.Contains(extra, "oidc:") {
		extra += "oidc:\n  address: \"\"\n"
	}
	cfg := fmt.Sprintf("trust_domain: %s\ndata_dir: %s\nbind_port: %d\nadmin_socket_path: %s\nhealth_address: \"\"\nlog_level: debug\n",
		d.td, filepath.Join(d.dir, "server"), d.serverPort, d.adminSock)
	writeFile(d.t, filepath.Join(d.dir, "server.yaml"), cfg+extra)
}

func writeFile(t *testing.T, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
}

func (d *domain) startServer() {
	d.t.Helper()
	d.server = start(d.t, "lanyard-server", 0, nil, "run", "-config", filepath.Join(d.dir, "server.yaml"))
	eventually(d.t, 30*time.Second, "server healthy", func() bool {
		_, err := run(d.t, "lanyard-server", 0, nil, "healthcheck", "-socketPath", d.adminSock)
		return err == nil
	})
}

// cli runs an admin command against the server and fails the test if it fails.
func (d *domain) cli(args ...string) string {
	d.t.Helper()
	out, err := run(d.t, "lanyard-server", 0, nil, append(args, "-socketPath", d.adminSock)...)
	if err != nil {
		d.t.Fatalf("lanyard-server %s: %v", strings.Join(args, " "), err)
	}
	return out
}

func (d *domain) startAgent() {
	d.t.Helper()
	out := d.cli("token", "generate", "-ttl", "600")
	token := strings.TrimSpace(strings.TrimPrefix(lines(out, "Token:")[0], "Token:"))
	d.agentID = fmt.Sprintf("spiffe://%s/spire/agent/join_token/%s", d.td, token)
	d.agent = start(d.t, "lanyard-agent", 0, nil, "run", "-config", d.agentConfig("agent", "join_token: "+token+"\n"+d.agentExtra))
	d.waitAgentSocket()
}

func (d *domain) waitAgentSocket() {
	d.t.Helper()
	eventually(d.t, 30*time.Second, "agent socket", func() bool {
		_, err := os.Stat(d.socket)
		return err == nil
	})
}

// agentConfig writes <name>.yaml for an agent with its own data dir that trusts the
// server's current bundle and serves the domain's Workload API socket, plus extra
// YAML (the node attestor), and returns its path.
func (d *domain) agentConfig(name, extra string) string {
	d.t.Helper()
	bundle := filepath.Join(d.dir, "bundle.pem")
	writeFile(d.t, bundle, d.cli("bundle", "show"))
	cfg := fmt.Sprintf("trust_domain: %s\nserver_port: %d\ndata_dir: %s\nsocket_path: %s\nhealth_address: \"\"\ntrust_bundle_path: %s\nlog_level: debug\n",
		d.td, d.serverPort, filepath.Join(d.dir, name+"-data"), d.socket, bundle)
	path := filepath.Join(d.dir, name+".yaml")
	writeFile(d.t, path, cfg+extra)
	return path
}

// entry registers spiffe://TD/<name> for workloads running as uid, parented to the agent.
func (d *domain) entry(name string, uid int, extra ...string) string {
	d.t.Helper()
	out := d.cli(append([]string{"entry", "create", "-parentID", d.agentID, "-spiffeID", d.id(name),
		"-selector", fmt.Sprintf("unix:uid:%d", uid)}, extra...)...)
	ids := lines(out, "Entry ID")
	if len(ids) == 0 {
		d.t.Fatalf("entry create printed no entry ID:\n%s", out)
	}
	parts := strings.SplitN(ids[0], ":", 2)
	return strings.TrimSpace(parts[1])
}

func (d *domain) id(name string) string { return fmt.Sprintf("spiffe://%s/%s", d.td, name) }

func (d *domain) env() []string { return []string{"SPIFFE_ENDPOINT_SOCKET=unix://" + d.socket} }

// workload starts the workload binary as uid.
func (d *domain) workload(uid int, args ...string) *proc {
	return start(d.t, "workload", uid, d.env(), args...)
}

// runWorkload runs the workload binary to completion as uid.
func (d *domain) runWorkload(uid int, args ...string) (string, error) {
	return run(d.t, "workload", uid, d.env(), args...)
}
