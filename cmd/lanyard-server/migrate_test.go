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
		{Name: "a supported file prints YAML that validate accepts", Src: `server {
  trust_domain = "example.org"
  data_dir = "/var/lib/spire/server"
  bind_port = "8081"
  log_level = "INFO"
}
plugins {
  DataStore "sql" {
    plugin_data = {
      database_type = "sqlite3"
      connection_string = "/var/lib/spire/server/datastore.sqlite3"
    }
  }
  NodeAttestor "join_token" { plugin_data {} }
  KeyManager "memory" { plugin_data {} }
}
`, Stdout: "trust_domain: example.org"},
		{Name: "each problem is one line naming the key", Src: `server {
  trust_domain = "example.org"
  log_file = "/var/log/spire-server.log"
}
plugins {
  NodeAttestor "aws_iid" { plugin_data {} }
}
`, Code: 1, Stderr: []string{`.conf:3: server.log_file: Lanyard logs to stderr only`,
			`.conf:6: plugins.NodeAttestor "aws_iid": not supported by Lanyard`, "2 problem(s); nothing was written"}, StderrLines: 3},
		{Name: "malformed HCL is one line with the position", Src: "server {\n  trust_domain = \n", Code: 1, Stderr: []string{".conf:"}, StderrLines: 1},
		{Name: "no file", Code: 2, Stderr: []string{"Usage: lanyard-server migrate-config"}, StderrLines: 1},
	})
}
