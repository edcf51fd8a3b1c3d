package datadir

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestServerIDIsCreatedOnceAndADamagedOneIsRefused(t *testing.T) {
	dir := t.TempDir()
	id, err := ServerID(dir)
	if err != nil || len(id) != 32 {
		t.Fatalf("first start: %q, %v", id, err)
	}
	again, err := ServerID(dir)
	if err != nil || again != id {
		t.Fatalf("second start: %q, %v; want the same ID %q", again, err, id)
	}
	for name, content := range map[string]string{
		"an empty file (torn by a crash)": "",
		"garbage":                         "not an id\n",
		"a truncated ID":                  id[:10],
	} {
		if err := os.WriteFile(filepath.Join(dir, "server_id"), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := ServerID(dir)
		if err == nil || !strings.Contains(err.Error(), "server_id") || !strings.Contains(err.Error(), "restore it") {
			t.Errorf("%s: %v; want a refusal naming the file and the fix", name, err)
		}
		if got, _ := os.ReadFile(filepath.Join(dir, "server_id")); string(got) != content {
			t.Errorf("%s: the file was replaced with %q", name, got)
		}
	}
}
