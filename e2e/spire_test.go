package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// spireBinary returns SPIRE's own program name (spire-server, spire-agent) as built by
// e2e/spire/install.sh. Without it the test skips, unless LANYARD_REQUIRE_SPIRE is set
// (make test sets it), which makes a missing binary a failure.
func spireBinary(t *testing.T, name string) string {
	t.Helper()
	cache := os.Getenv("LANYARD_CACHE")
	if cache == "" {
		cache = filepath.Join("..", ".cache")
	}
	path, err := filepath.Abs(filepath.Join(cache, "spire", "bin", name))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); err != nil {
		if os.Getenv("LANYARD_REQUIRE_SPIRE") != "" {
			t.Fatalf("%s is missing (%v): run e2e/spire/install.sh", name, err)
		}
		t.Skipf("%s is missing: run e2e/spire/install.sh", name)
	}
	return path
}

// spireData writes n entries in the form SPIRE's CLI reads for -data.
func spireData(t *testing.T, dir, td, parent string, n int) string {
	t.Helper()
	var b strings.Builder
	b.WriteString(`{"entries": [`)
	for i := range n {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, `{"spiffe_id": "spiffe://%s/w/%d", "parent_id": "%s", "selectors": [{"type": "unix", "value": "uid:%d"}], "x509_svid_ttl": 600}`,
			td, i, parent, 10000+i)
	}
	b.WriteString("]}")
	path := filepath.Join(dir, fmt.Sprintf("entries-%d.json", n))
	writeFile(t, path, b.String())
	return path
}

// TestSPIREsCLIWorksAgainstLanyard drives SPIRE's own spire-server CLI, unchanged, against
// a running lanyard-server's admin socket.
func TestSPIREsCLIWorksAgainstLanyard(t *testing.T) {
	requireRoot(t)
	spire := spireBinary(t, "spire-server")
	d := newDomain(t, "spire-cli.test")
	d.startServer()
	d.startAgent()
	spireCLI := func(args ...string) (string, error) {
		return runCommand(t, spire, 0, nil, append(args, "-socketPath", d.adminSock)...)
	}

	t.Run("spire-agent healthcheck asks lanyard-agent's Workload API socket", func(t *testing.T) {
		spireAgent := spireBinary(t, "spire-agent")
		out, err := runCommand(t, spireAgent, 0, nil, "healthcheck", "-socketPath", d.socket)
		if err != nil || !strings.Contains(out, "Agent is healthy.") {
			t.Fatalf("spire-agent healthcheck: %q, %v", out, err)
		}
	})

	t.Run("entry create -data sends a file of 1,100 entries as one request", func(t *testing.T) {
		if out, err := spireCLI("entry", "create", "-data", spireData(t, d.dir, d.td, d.agentID, 1100)); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		out, err := spireCLI("entry", "count")
		if err != nil || !strings.Contains(out, "1100") {
			t.Fatalf("entry count: %q, %v", out, err)
		}
	})
	t.Run("lanyard-server reads SPIRE's -data files too", func(t *testing.T) {
		path := filepath.Join(d.dir, "lanyard.json")
		writeFile(t, path, fmt.Sprintf(`{"entries": [{"spiffe_id": "spiffe://%s/from-spire-file", "parent_id": "%s", "selectors": [{"type": "unix", "value": "uid:1"}], "entryExpiry": 4102444800}]}`,
			d.td, d.agentID))
		d.cli("entry", "create", "-data", path)
		out, err := spireCLI("entry", "show", "-spiffeID", "spiffe://"+d.td+"/from-spire-file")
		if err != nil || !strings.Contains(out, "from-spire-file") {
			t.Fatalf("entry show: %q, %v", out, err)
		}
	})
	t.Run("agent list -expiresBefore in SPIRE's time format", func(t *testing.T) {
		out, err := spireCLI("agent", "list", "-expiresBefore", "2999-01-01 00:00:00 +0000 +00")
		if err != nil || !strings.Contains(out, d.agentID) {
			t.Fatalf("agent list: %q, %v", out, err)
		}
		out, err = spireCLI("agent", "count", "-expiresBefore", "2000-01-01 00:00:00 +0000 +00")
		if err != nil || !strings.Contains(out, "0 attested agents") {
			t.Fatalf("agent count: %q, %v", out, err)
		}
	})
	t.Run("an entry federating with an unknown trust domain is refused", func(t *testing.T) {
		out, err := spireCLI("entry", "create", "-parentID", d.agentID, "-spiffeID", "spiffe://"+d.td+"/fed",
			"-selector", "unix:uid:2", "-federatesWith", "spiffe://nowhere.test")
		if err == nil || !strings.Contains(out+err.Error(), "nowhere.test") {
			t.Fatalf("entry create -federatesWith an unknown domain: %q, %v", out, err)
		}
	})
	t.Run("logger get and set change the running server's level", func(t *testing.T) {
		out, err := spireCLI("logger", "set", "-level", "warn")
		if err != nil || !strings.Contains(out, "Logger Level : warning") || !strings.Contains(out, "Launch Level : debug") {
			t.Fatalf("logger set: %q, %v", out, err)
		}
		out, err = spireCLI("logger", "reset")
		if err != nil || !strings.Contains(out, "Logger Level : debug") {
			t.Fatalf("logger reset: %q, %v", out, err)
		}
	})
	t.Run("the agent's version is recorded and shown", func(t *testing.T) {
		eventually(t, 30*time.Second, "the agent's version in agent show", func() bool {
			return strings.Contains(d.cli("agent", "show", "-spiffeID", d.agentID), "Agent version    : lanyard-agent ")
		})
	})
	t.Run("localauthority show and prepare", func(t *testing.T) {
		for _, kind := range []string{"x509", "jwt"} {
			out, err := spireCLI("localauthority", kind, "prepare")
			if err != nil || !strings.Contains(out, "Prepared ") || !strings.Contains(out, "Authority ID: ") {
				t.Fatalf("localauthority %s prepare: %q, %v", kind, out, err)
			}
			prepared := firstAuthorityID(t, out, "Prepared ")
			out, err = spireCLI("localauthority", kind, "show")
			if err != nil || firstAuthorityID(t, out, "Prepared ") != prepared || !strings.Contains(out, "No old ") {
				t.Fatalf("localauthority %s show after prepare %s: %q, %v", kind, prepared, out, err)
			}
		}
		out, err := spireCLI("localauthority", "x509", "taint", "-authorityID", "00ff")
		if err == nil || !strings.Contains(out+err.Error(), "no x509 authority") {
			t.Fatalf("localauthority x509 taint of an unknown authority: %q, %v", out, err)
		}
	})
	t.Run("bundle show and healthcheck", func(t *testing.T) {
		out, err := spireCLI("bundle", "show")
		if err != nil || !strings.Contains(out, "BEGIN CERTIFICATE") {
			t.Fatalf("bundle show: %q, %v", out, err)
		}
		if out, err := spireCLI("healthcheck"); err != nil {
			t.Fatalf("healthcheck: %q, %v", out, err)
		}
	})
}

const uidSPIREAgentWorkload = 41201

// TestSPIREAgentServesWorkloadsFromLanyard runs SPIRE's own agent, unchanged, against a
// lanyard-server: it attests with a join token and serves X.509 and JWT-SVIDs that
// Lanyard signed to a go-spiffe workload.
func TestSPIREAgentServesWorkloadsFromLanyard(t *testing.T) {
	requireRoot(t)
	spireAgent := spireBinary(t, "spire-agent")
	d := newDomain(t, "spire-agent.test")
	d.startServer()
	out := d.cli("token", "generate", "-ttl", "600")
	token := strings.TrimSpace(strings.TrimPrefix(lines(out, "Token:")[0], "Token:"))
	d.agentID = fmt.Sprintf("spiffe://%s/spire/agent/join_token/%s", d.td, token)
	conf := d.spireAgentConf("spire-agent", fmt.Sprintf("join_token = %q", token), `NodeAttestor "join_token" {
        plugin_data {}
    }`)
	d.agent = start(t, spireAgent, 0, nil, "run", "-config", conf)
	d.waitAgentSocket()
	d.entry("billing", uidSPIREAgentWorkload)

	eventually(t, 60*time.Second, "an X.509-SVID from SPIRE's agent", func() bool {
		out, err := d.runWorkload(uidSPIREAgentWorkload, "x509")
		return err == nil && strings.Contains(out, d.id("billing"))
	})
	token2, err := d.runWorkload(uidSPIREAgentWorkload, "jwt", "-audience", "lanyard-test")
	if err != nil {
		t.Fatalf("JWT-SVID from SPIRE's agent: %v", err)
	}
	if out, err := d.runWorkload(uidSPIREAgentWorkload, "validate", "-audience", "lanyard-test", "-token", strings.TrimSpace(token2)); err != nil ||
		!strings.Contains(out, "valid "+d.id("billing")) {
		t.Fatalf("validating the JWT-SVID at SPIRE's agent: %q, %v", out, err)
	}
	if out := d.cli("agent", "show", "-spiffeID", d.agentID); !strings.Contains(out, d.agentID) {
		t.Fatalf("agent show:\n%s", out)
	}
	t.Run("a CA tainted on Lanyard is rotated away by SPIRE's agent", func(t *testing.T) {
		w := d.workload(uidSPIREAgentWorkload, "watch")
		eventually(t, 30*time.Second, "the workload's first X.509 update", func() bool { return len(lastLine(w.Output(), "issuers ")) == 1 })
		old := firstAuthorityID(t, d.cli("localauthority", "x509", "show"), "Active X.509 authority:")
		prepared := firstAuthorityID(t, d.cli("localauthority", "x509", "prepare"), "Prepared X.509 authority:")
		d.cli("localauthority", "x509", "activate", "-authorityID", prepared)
		d.cli("localauthority", "x509", "taint", "-authorityID", old)
		eventually(t, 60*time.Second, "SPIRE's agent to serve an SVID from the new CA", func() bool {
			got := lastLine(w.Output(), "issuers ")
			return len(got) == 1 && got[0] == d.id("billing")+"="+prepared
		})
	})
}

// spireAgentConf writes <name>.conf for SPIRE's agent joining d's server (data dir
// <name>-data, the server's current bundle, the Workload API at <name>.sock, which it
// sets as d.socket) with agentExtra in the agent block and nodeAttestor among the
// plugins, and returns its path.
func (d *domain) spireAgentConf(name, agentExtra, nodeAttestor string) string {
	d.t.Helper()
	bundle := filepath.Join(d.dir, "bundle.pem")
	writeFile(d.t, bundle, d.cli("bundle", "show"))
	d.socket = filepath.Join(d.dir, name+".sock")
	conf := filepath.Join(d.dir, name+".conf")
	writeFile(d.t, conf, fmt.Sprintf(`agent {
    data_dir = %q
    log_level = "DEBUG"
    server_address = "127.0.0.1"
    server_port = "%d"
    socket_path = %q
    trust_bundle_path = %q
    trust_domain = %q
    %s
}
plugins {
    %s
    KeyManager "memory" {
        plugin_data {}
    }
    WorkloadAttestor "unix" {
        plugin_data {}
    }
}
`, filepath.Join(d.dir, name+"-data"), d.serverPort, d.socket, bundle, d.td, agentExtra, nodeAttestor))
	return conf
}
