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
	if err := os.WriteFile(good, []byte("trust_domain: example.org\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bad, []byte("trust_domain: example.org\nca_key_type: dsa\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name, path, want string
		code             int
	}{
		{"a valid file passes", good, "Configuration is valid", 0},
		{"an invalid file names the field", bad, "ca_key_type", 1},
		{"a missing file is reported", filepath.Join(dir, "none.yaml"), "reading -config", 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			code := run(context.Background(), []string{"validate", "-config", tt.path}, &out, &errOut)
			if code != tt.code || !strings.Contains(out.String()+errOut.String(), tt.want) {
				t.Fatalf("exit %d, stdout %q, stderr %q; want exit %d mentioning %q", code, out.String(), errOut.String(), tt.code, tt.want)
			}
			if code != 0 && strings.Count(strings.TrimSpace(errOut.String()), "\n") != 0 {
				t.Fatalf("error is more than one line: %q", errOut.String())
			}
		})
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
