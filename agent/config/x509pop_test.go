package config

import (
	"strings"
	"testing"
)

func TestX509PoPSection(t *testing.T) {
	const base = "trust_domain: a.org\n"
	cfg, err := Parse([]byte(base + "node_attestor: x509pop\nx509pop:\n  certificate_path: /n.crt\n  private_key_path: /n.key\n  intermediates_path: /i.pem\n"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Attestor() != X509PoP || cfg.X509PoP != (X509PoPAttestor{CertificatePath: "/n.crt", PrivateKeyPath: "/n.key", IntermediatesPath: "/i.pem"}) {
		t.Fatalf("parsed %+v", cfg.X509PoP)
	}
	for _, tt := range []struct{ name, yaml, want string }{
		{"no certificate", "node_attestor: x509pop\nx509pop:\n  private_key_path: /n.key\n", "x509pop.certificate_path is required"},
		{"no key", "node_attestor: x509pop\nx509pop:\n  certificate_path: /n.crt\n", "x509pop.private_key_path is required"},
		{"a join token too", "node_attestor: x509pop\njoin_token: abc\nx509pop:\n  certificate_path: /n.crt\n  private_key_path: /n.key\n", "join_token cannot be combined"},
		{"a section without node_attestor", "join_token: abc\nx509pop:\n  certificate_path: /n.crt\n", "set node_attestor: x509pop"},
		{"SPIRE's spiffe_endpoint_socket, which Lanyard lacks", "node_attestor: x509pop\nx509pop:\n  spiffe_endpoint_socket: /s\n", "spiffe_endpoint_socket"},
	} {
		if _, err := Parse([]byte(base + tt.yaml)); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error = %v, want %q", tt.name, err, tt.want)
		}
	}
}
