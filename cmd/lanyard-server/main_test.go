package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestValidateUsesTheServersParserAndFlags: the shared validate command (tested in
// internal/command) is wired to lanyard-server's own parser and spire-server's flags.
func TestValidateUsesTheServersParserAndFlags(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(bad, []byte("trust_domain: example.org\nca_key_type: dsa\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"validate", "-trustDomain", "example.org", "-serverPort", "8443"}, &out, &errOut); code != 0 {
		t.Fatalf("flags alone: exit %d, stderr %q", code, errOut.String())
	}
	errOut.Reset()
	if code := run(context.Background(), []string{"validate", "-config", bad}, &out, &errOut); code != 1 || !strings.Contains(errOut.String(), "ca_key_type") {
		t.Fatalf("bad file: exit %d, stderr %q; want the field named", code, errOut.String())
	}
}

func TestDatastoreCommandRefusals(t *testing.T) {
	dir := t.TempDir()
	pg := filepath.Join(dir, "pg.yaml")
	if err := os.WriteFile(pg, []byte("trust_domain: example.org\ndatastore:\n  type: postgres\n  connection_string: postgres://lanyard@db/lanyard\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	sqliteCfg := filepath.Join(dir, "sqlite.yaml")
	if err := os.WriteFile(sqliteCfg, []byte("trust_domain: example.org\ndata_dir: "+filepath.Join(dir, "data")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		args []string
		want string
	}{
		{"postgres is backed up with pg_dump", []string{"backup", "-config", pg, filepath.Join(dir, "b")}, "pg_dump"},
		{"a backup needs a file", []string{"backup", "-config", sqliteCfg}, "backup file"},
		{"a restore needs an existing backup", []string{"restore", "-config", sqliteCfg, filepath.Join(dir, "none")}, "backup file"},
		{"an unknown verb shows the usage", []string{"copy"}, "backup|restore"},
		{"a backup of a database that is not there fails", []string{"backup", "-config", sqliteCfg, filepath.Join(dir, "b")}, "datastore.sqlite3"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			code := run(context.Background(), append([]string{"datastore"}, tt.args...), &out, &errOut)
			if code == 0 || !strings.Contains(errOut.String(), tt.want) {
				t.Fatalf("exit %d, stderr %q; want a failure mentioning %q", code, errOut.String(), tt.want)
			}
		})
	}
}
