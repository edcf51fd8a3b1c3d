package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestMigrateConfig(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("good.conf", `server {
  trust_domain = "example.org"
  data_dir = "`+dir+`/data"
  bind_port = "8081"
  log_level = "INFO"
}
plugins {
  DataStore "sql" {
    plugin_data = {
      database_type = "sqlite3"
      connection_string = "`+dir+`/data/datastore.sqlite3"
    }
  }
  NodeAttestor "join_token" { plugin_data {} }
  KeyManager "memory" { plugin_data {} }
}
`)
	bad := write("bad.conf", `server {
  trust_domain = "example.org"
  log_file = "/var/log/spire-server.log"
}
plugins {
  NodeAttestor "aws_iid" { plugin_data {} }
}
`)
	tests := []struct {
		name       string
		args       []string
		code       int
		stdout     string
		stderr     []string
		stderrRows int
	}{
		{"a supported file prints YAML", []string{"migrate-config", good}, 0, "trust_domain: example.org", nil, 0},
		{"each problem is one line naming the key", []string{"migrate-config", bad}, 1, "",
			[]string{bad + `:3: server.log_file: Lanyard logs to stderr only`, bad + `:6: plugins.NodeAttestor "aws_iid": not supported by Lanyard`,
				"2 problem(s); nothing was written"}, 3},
		{"a missing file", []string{"migrate-config", filepath.Join(dir, "none.conf")}, 1, "", []string{"none.conf"}, 1},
		{"no file", []string{"migrate-config"}, 2, "", []string{"Usage: lanyard-server migrate-config"}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			code := run(context.Background(), tt.args, &out, &errOut)
			if code != tt.code || !strings.Contains(out.String(), tt.stdout) {
				t.Fatalf("exit %d, stdout %q, stderr %q; want exit %d, stdout with %q", code, out.String(), errOut.String(), tt.code, tt.stdout)
			}
			for _, want := range tt.stderr {
				if !strings.Contains(errOut.String(), want) {
					t.Errorf("stderr %q lacks %q", errOut.String(), want)
				}
			}
			if rows := strings.Count(errOut.String(), "\n"); rows != tt.stderrRows {
				t.Errorf("stderr has %d lines, want %d: %q", rows, tt.stderrRows, errOut.String())
			}
			if code != 0 && out.Len() != 0 {
				t.Errorf("a failure printed to stdout: %q", out.String())
			}
		})
	}

	// What migrate-config prints, validate accepts.
	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"migrate-config", good}, &out, &errOut); code != 0 {
		t.Fatalf("migrate-config: %s", errOut.String())
	}
	converted := write("lanyard.yaml", out.String())
	out.Reset()
	if code := run(context.Background(), []string{"validate", "-config", converted}, &out, &errOut); code != 0 {
		t.Fatalf("validate refuses migrate-config's output: %s\n%s", errOut.String(), out.String())
	}
}
