package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lanyard-dev/lanyard/attestors/x509pop/x509poptest"
)

func TestX509PoPSection(t *testing.T) {
	const head = "trust_domain: example.org\nnode_attestors:\n  x509pop:\n"
	dir := t.TempDir()
	ca := x509poptest.NewCA(t, "agents", nil)
	a, b := x509poptest.WriteBundle(t, filepath.Join(dir, "a.pem"), ca), x509poptest.WriteBundle(t, filepath.Join(dir, "b.pem"), ca)
	empty := filepath.Join(dir, "empty.pem")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := Parse([]byte(head + "    ca_bundle_paths: [" + a + ", " + b + "]\n    agent_path_template: /cn/{{ .Subject.CommonName }}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if x := cfg.NodeAttestors.X509PoP; x == nil || strings.Join(x.BundlePaths(), ",") != a+","+b {
		t.Fatalf("x509pop section = %+v", cfg.NodeAttestors.X509PoP)
	}
	for _, tt := range []struct{ name, yaml, want string }{
		{"no CA bundle in external_pki mode", "    mode: external_pki\n", "node_attestors.x509pop.ca_bundle_path is required"},
		{"both bundle keys", "    ca_bundle_path: /a.pem\n    ca_bundle_paths: [/b.pem]\n", "node_attestors.x509pop.ca_bundle_paths cannot be combined"},
		{"a CA bundle in spiffe mode", "    mode: spiffe\n    ca_bundle_path: /a.pem\n", "cannot be used in spiffe mode"},
		{"an unknown mode", "    mode: tpm\n    ca_bundle_path: /a.pem\n", `node_attestors.x509pop.mode "tpm"`},
		{"a template that does not parse", "    ca_bundle_path: /a.pem\n    agent_path_template: \"{{ .Fingerprint\"\n", "agent_path_template does not parse"},
		{"SPIRE's verify_client_ip, which Lanyard lacks", "    ca_bundle_path: /a.pem\n    verify_client_ip: true\n", "verify_client_ip"},
		{"a negative limit", "    ca_bundle_path: /a.pem\n    max_intermediates: -1\n", "max_intermediates must be positive"},
		{"a missing CA bundle", "    ca_bundle_path: " + filepath.Join(dir, "none.pem") + "\n", "ca_bundle_path cannot be used: open " + filepath.Join(dir, "none.pem")},
		{"a CA bundle without certificates", "    ca_bundle_paths: [" + empty + "]\n", "ca_bundle_paths cannot be used: " + empty + " holds no PEM CERTIFICATE"},
	} {
		if _, err := Parse([]byte(head + tt.yaml)); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error = %v, want %q", tt.name, err, tt.want)
		}
	}
}
