package main

import (
	"bytes"
	"context"
	"testing"

	"github.com/lanyard-dev/lanyard/internal/spirehcl/spirehcltest"
)

func TestMigrateConfig(t *testing.T) {
	spirehcltest.Command(t, func(args []string, stdout, stderr *bytes.Buffer) int {
		return run(context.Background(), args, stdout, stderr)
	}, []spirehcltest.CommandCase{
		{Name: "a supported file prints YAML that validate accepts", Src: `agent {
  trust_domain = "example.org"
  data_dir = "/var/lib/spire/agent"
  server_address = "spire-server"
  server_port = "8081"
  insecure_bootstrap = true
}
plugins {
  NodeAttestor "join_token" { plugin_data {} }
  KeyManager "disk" { plugin_data { directory = "/var/lib/spire/agent" } }
  WorkloadAttestor "unix" { plugin_data = { discover_workload_path = true } }
}
`, Stdout: "server_address: spire-server"},
		{Name: "each problem is one line naming the key", Src: `agent {
  trust_domain = "example.org"
  authorized_delegates = ["spiffe://example.org/delegate"]
}
plugins {
  WorkloadAttestor "docker" { plugin_data {} }
}
`, Code: 1, Stderr: []string{`.conf:3: agent.authorized_delegates: needs admin_socket_path`,
			`.conf:6: plugins.WorkloadAttestor "docker": not supported by Lanyard`, "2 problem(s); nothing was written"}, StderrLines: 3},
		{Name: "malformed HCL is one line with the position", Src: "agent {\n  trust_domain = \n", Code: 1, Stderr: []string{".conf:"}, StderrLines: 1},
		{Name: "no file", Code: 2, Stderr: []string{"Usage: lanyard-agent migrate-config"}, StderrLines: 1},
	})
}
