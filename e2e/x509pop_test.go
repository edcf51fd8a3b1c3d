package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lanyard-dev/lanyard/attestors"
	"github.com/lanyard-dev/lanyard/attestors/x509pop/x509poptest"
	"github.com/lanyard-dev/lanyard/internal/freeport"
	"github.com/lanyard-dev/lanyard/server/datastore/postgres/pgtest"
)

const (
	uidX509PoPSPIRE   = 41501 // workload of SPIRE's agent attested with x509pop
	uidX509PoPLanyard = 41502 // workload of lanyard-agent attested with x509pop
	uidX509PoPToSPIRE = 41503 // workload of lanyard-agent attested by SPIRE's server
)

// TestX509PoPAgentsAttestToLanyard runs lanyard-server from SPIRE's server.conf converted
// by migrate-config, trusting the operator's root, and attests to it SPIRE's own agent (an
// RSA node key, SPIRE's x509pop plugin) and lanyard-agent (an ECDSA key, the intermediate
// in intermediates_path, its configuration converted from SPIRE's agent.conf). Each gets
// its agent ID from the certificate's fingerprint, serves a workload its SVID and, with
// 40-second agent SVIDs, attests again with a fresh challenge before its SVID expires. A
// node whose certificate another CA issued is refused, and lanyard-agent says why.
func TestX509PoPAgentsAttestToLanyard(t *testing.T) {
	requireRoot(t)
	spireAgent := spireBinary(t, "spire-agent")
	root := x509poptest.NewCA(t, "operator root", nil)
	inter := x509poptest.NewCA(t, "operator intermediate", root)
	d := newDomain(t, "x509pop.test")
	d.convertSPIREServerConf(d.x509popServerHCL(`agent_ttl = "40s"`, "sqlite3", filepath.Join(d.dir, "server", "datastore.sqlite3"),
		x509poptest.WriteBundle(t, filepath.Join(d.dir, "operator-root.pem"), root)))
	d.startServer()

	nodeFiles := func(name string, n *x509poptest.Issued) (cert, key, inters string) {
		dir := filepath.Join(d.dir, name)
		if err := os.MkdirAll(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		cert, key = n.Write(t, dir)
		return cert, key, x509poptest.WriteBundle(t, filepath.Join(dir, "intermediates.pem"), inter)
	}
	reattested := func(agentID string) {
		t.Helper()
		eventually(t, 90*time.Second, agentID+" to attest again before its 40 s SVID expires", func() bool {
			for _, l := range lines(d.server.Output(), "") {
				if strings.Contains(l, `msg="agent attested"`) && strings.Contains(l, "agent_id="+agentID) && strings.Contains(l, "reattestation=true") {
					return true
				}
			}
			return false
		})
	}

	for _, rsa := range []bool{true, false} {
		name := map[bool]string{true: "spire-rsa", false: "spire-ecdsa"}[rsa]
		t.Run("SPIRE's agent with an "+map[bool]string{true: "RSA", false: "ECDSA"}[rsa]+" node key", func(t *testing.T) {
			node := inter.Issue(t, x509poptest.Node{CN: name, RSA: rsa})
			cert, key, inters := nodeFiles(name, node)
			d.agentID = fmt.Sprintf("spiffe://%s/spire/agent/x509pop/%s", d.td, attestors.CertFingerprint(node.Cert))
			agent := start(t, spireAgent, 0, nil, "run", "-config", d.spireAgentConf(name, "", x509popPlugin(cert, key, inters)))
			d.waitAgentSocket()
			d.entry(name, uidX509PoPSPIRE)
			eventually(t, 60*time.Second, "an X.509-SVID from SPIRE's x509pop agent", func() bool {
				out, err := d.runWorkload(uidX509PoPSPIRE, "x509")
				return err == nil && strings.Contains(out, d.id(name))
			})
			out := d.cli("agent", "show", "-spiffeID", d.agentID)
			for _, want := range []string{"x509pop", "subject:cn:" + name, "ca:fingerprint:" + attestors.CertFingerprint(root.Cert)} {
				if !strings.Contains(out, want) {
					t.Fatalf("agent show lacks %q:\n%s", want, out)
				}
			}
			if rsa { // one re-attestation is enough
				reattested(d.agentID)
			}
			agent.stop()
		})
	}

	t.Run("lanyard-agent with an ECDSA node key", func(t *testing.T) {
		node := inter.Issue(t, x509poptest.Node{CN: "lanyard-node"})
		cert, key, inters := nodeFiles("lanyard-node", node)
		d.agentID = fmt.Sprintf("spiffe://%s/spire/agent/x509pop/%s", d.td, attestors.CertFingerprint(node.Cert))
		// SPIRE's agent.conf, converted by migrate-config, runs as it is (the health
		// listener off so that parallel tests do not share its port).
		converted, err := run(t, "lanyard-agent", 0, nil, "migrate-config", d.spireAgentConf("lanyard-x509pop", "", x509popPlugin(cert, key, inters)))
		if err != nil || !strings.Contains(converted, "node_attestor: x509pop") {
			t.Fatalf("migrate-config: %v\n%s", err, converted)
		}
		conf := filepath.Join(d.dir, "lanyard-x509pop.yaml") // beside SPIRE's lanyard-x509pop.conf
		writeFile(t, conf, converted+"health_address: \"\"\n")
		start(t, "lanyard-agent", 0, nil, "run", "-config", conf)
		d.waitAgentSocket()
		d.entry("lanyard-x509pop", uidX509PoPLanyard)
		eventually(t, 60*time.Second, "an X.509-SVID from lanyard-agent attested with x509pop", func() bool {
			out, err := d.runWorkload(uidX509PoPLanyard, "x509")
			return err == nil && strings.Contains(out, d.id("lanyard-x509pop"))
		})
		reattested(d.agentID)
	})

	t.Run("a node certificate of another CA is refused", func(t *testing.T) {
		stranger := x509poptest.NewCA(t, "someone else", nil).Issue(t, x509poptest.Node{CN: "intruder"})
		cert, key, _ := nodeFiles("intruder", stranger)
		d.socket = filepath.Join(d.dir, "intruder", "api.sock")
		conf := d.agentConfig("intruder", fmt.Sprintf("node_attestor: x509pop\nx509pop:\n  certificate_path: %s\n  private_key_path: %s\n", cert, key))
		_, err := run(t, "lanyard-agent", 0, nil, "run", "-config", conf) // stderr is in err
		if err == nil || !strings.Contains(err.Error(), "PermissionDenied") || !strings.Contains(err.Error(), `issued by "CN=someone else", does not chain to a CA`) {
			t.Fatalf("lanyard-agent with a stranger's certificate: %v", err)
		}
	})
}

// convertSPIREServerConf writes SPIRE's server.conf src and makes the domain's server
// configuration of it with migrate-config, the health and OIDC listeners off so that
// parallel tests do not share their ports.
func (d *domain) convertSPIREServerConf(src string) {
	d.t.Helper()
	conf := filepath.Join(d.dir, "spire-server.conf")
	writeFile(d.t, conf, src)
	out, err := run(d.t, "lanyard-server", 0, nil, "migrate-config", conf)
	if err != nil {
		d.t.Fatalf("migrate-config %s: %v", conf, err)
	}
	writeFile(d.t, filepath.Join(d.dir, "server.yaml"), out+"health_address: \"\"\noidc:\n  address: \"\"\n")
}

// x509popServerHCL is SPIRE's server.conf for d with an x509pop NodeAttestor trusting
// caBundle, serverExtra in the server block and the datastore given.
func (d *domain) x509popServerHCL(serverExtra, dbType, conn, caBundle string) string {
	return fmt.Sprintf(`server {
    bind_address = "127.0.0.1"
    bind_port = "%d"
    socket_path = %q
    trust_domain = %q
    data_dir = %q
    log_level = "DEBUG"
    %s
}
plugins {
    DataStore "sql" {
        plugin_data {
            database_type = %q
            connection_string = %q
        }
    }
    KeyManager "memory" {
        plugin_data {}
    }
    NodeAttestor "x509pop" {
        plugin_data {
            ca_bundle_path = %q
        }
    }
}
`, d.serverPort, d.adminSock, d.td, filepath.Join(d.dir, "server"), serverExtra, dbType, conn, caBundle)
}

// x509popPlugin is SPIRE's agent NodeAttestor block for the node's files.
func x509popPlugin(cert, key, intermediates string) string {
	return fmt.Sprintf(`NodeAttestor "x509pop" {
        plugin_data {
            private_key_path = %q
            certificate_path = %q
            intermediates_path = %q
        }
    }`, key, cert, intermediates)
}

// TestLanyardAgentAttestsToSPIREServerWithX509PoP runs the other direction: SPIRE's own
// spire-server with its x509pop plugin attests lanyard-agent, with an RSA node key (SPIRE
// verifies RSA-PSS) and with an ECDSA one, and the agent serves a workload the SVID of an
// entry made with SPIRE's CLI.
func TestLanyardAgentAttestsToSPIREServerWithX509PoP(t *testing.T) {
	requireRoot(t)
	spireServer := spireBinary(t, "spire-server")
	dir := sharedDir(t)
	root := x509poptest.NewCA(t, "operator root", nil)
	d := &domain{t: t, td: "spire-x509pop.test", dir: dir, serverPort: freeport.Loopback(t), adminSock: filepath.Join(dir, "spire-server.sock")}
	conf := filepath.Join(dir, "spire-server.conf")
	// SPIRE's binary has no sqlite without cgo.
	writeFile(t, conf, d.x509popServerHCL("", "postgres", pgtest.Start(t).NewDatabase(t),
		x509poptest.WriteBundle(t, filepath.Join(dir, "operator-root.pem"), root)))
	start(t, spireServer, 0, nil, "run", "-config", conf)
	spire := func(args ...string) string {
		t.Helper()
		out, err := runCommand(t, spireServer, 0, nil, append(args, "-socketPath", d.adminSock)...)
		if err != nil {
			t.Fatalf("spire-server %s: %v", strings.Join(args, " "), err)
		}
		return out
	}
	eventually(t, 60*time.Second, "spire-server healthy", func() bool {
		_, err := runCommand(t, spireServer, 0, nil, "healthcheck", "-socketPath", d.adminSock)
		return err == nil
	})
	bundle := filepath.Join(dir, "spire-bundle.pem")
	writeFile(t, bundle, spire("bundle", "show"))
	for _, rsa := range []bool{true, false} {
		name := map[bool]string{true: "lanyard-rsa", false: "lanyard-ecdsa"}[rsa]
		t.Run(name, func(t *testing.T) {
			node := root.Issue(t, x509poptest.Node{CN: name, RSA: rsa})
			nodeDir := filepath.Join(dir, name)
			if err := os.MkdirAll(nodeDir, 0o700); err != nil {
				t.Fatal(err)
			}
			cert, key := node.Write(t, nodeDir)
			d.socket = filepath.Join(dir, name+"-api", "api.sock") // not in nodeDir, which workloads cannot enter
			d.agentID = fmt.Sprintf("spiffe://%s/spire/agent/x509pop/%s", d.td, attestors.CertFingerprint(node.Cert))
			agentConf := filepath.Join(nodeDir, "agent.yaml")
			writeFile(t, agentConf, fmt.Sprintf("trust_domain: %s\nserver_port: %d\ndata_dir: %s\nsocket_path: %s\nhealth_address: \"\"\n"+
				"trust_bundle_path: %s\nlog_level: debug\nnode_attestor: x509pop\nx509pop:\n  certificate_path: %s\n  private_key_path: %s\n",
				d.td, d.serverPort, filepath.Join(nodeDir, "data"), d.socket, bundle, cert, key))
			agent := start(t, "lanyard-agent", 0, nil, "run", "-config", agentConf)
			eventually(t, 60*time.Second, "lanyard-agent attested by spire-server as "+d.agentID, func() bool {
				return strings.Contains(agent.Output(), `msg="node attested" agent_id=`+d.agentID)
			})
			if out := spire("agent", "show", "-spiffeID", d.agentID); !strings.Contains(out, "x509pop:subject:cn:"+name) {
				t.Fatalf("spire-server agent show:\n%s", out)
			}
			spire("entry", "create", "-parentID", d.agentID, "-spiffeID", d.id(name), "-selector", fmt.Sprintf("unix:uid:%d", uidX509PoPToSPIRE))
			eventually(t, 60*time.Second, "an X.509-SVID signed by spire-server from lanyard-agent", func() bool {
				out, err := d.runWorkload(uidX509PoPToSPIRE, "x509")
				return err == nil && strings.Contains(out, d.id(name))
			})
			agent.stop()
		})
	}
}
