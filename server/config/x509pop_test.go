package config

import (
	"strings"
	"testing"
)

func TestX509PoPSection(t *testing.T) {
	const head = "trust_domain: example.org\nnode_attestors:\n  x509pop:\n"
	cfg, err := Parse([]byte(head + "    ca_bundle_paths: [/a.pem, /b.pem]\n    agent_path_template: /cn/{{ .Subject.CommonName }}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if x := cfg.NodeAttestors.X509PoP; x == nil || strings.Join(x.BundlePaths(), ",") != "/a.pem,/b.pem" {
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
	} {
		if _, err := Parse([]byte(head + tt.yaml)); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error = %v, want %q", tt.name, err, tt.want)
		}
	}
}
