package pemcert

import (
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lanyard-dev/lanyard/internal/testca"
)

func TestReadFile(t *testing.T) {
	dir := t.TempDir()
	a, _ := testca.New(t, "a", nil, nil, time.Now().Add(time.Hour))
	b, _ := testca.New(t, "b", nil, nil, time.Now().Add(time.Hour))
	write := func(name string, blocks ...*pem.Block) string {
		var data []byte
		for _, bl := range blocks {
			data = append(data, pem.EncodeToMemory(bl)...)
		}
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	certs, err := ReadFile(write("two.pem", &pem.Block{Type: "CERTIFICATE", Bytes: a.Raw}, &pem.Block{Type: "PRIVATE KEY", Bytes: []byte{1}},
		&pem.Block{Type: "CERTIFICATE", Bytes: b.Raw}))
	if err != nil || len(certs) != 2 || !certs[0].Equal(a) || !certs[1].Equal(b) {
		t.Fatalf("read %d certificates, %v; want a then b, the key skipped", len(certs), err)
	}
	for _, tt := range []struct{ name, path, want string }{
		{"a missing file", filepath.Join(dir, "none.pem"), "none.pem"},
		{"a file without certificates", write("key.pem", &pem.Block{Type: "PRIVATE KEY", Bytes: []byte{1}}), "key.pem holds no PEM CERTIFICATE"},
		{"an endless file", "/dev/zero", "/dev/zero is over 16 MiB"},
		{"a damaged certificate", write("bad.pem", &pem.Block{Type: "CERTIFICATE", Bytes: a.Raw}, &pem.Block{Type: "CERTIFICATE", Bytes: []byte{1}}), "bad.pem: PEM block 2"},
	} {
		if _, err := ReadFile(tt.path); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error = %v, want %q", tt.name, err, tt.want)
		}
	}
}
