package config

import (
	"strings"
	"testing"
	"time"
)

func TestPodCertificatesDefaults(t *testing.T) {
	cfg, err := Parse([]byte("trust_domain: example.org\nkubernetes_pod_certificates: {}\n"))
	if err != nil {
		t.Fatal(err)
	}
	k := cfg.KubernetesPodCertificates
	if k == nil {
		t.Fatal("an empty section did not turn the signer on")
	}
	if k.SignerName != "lanyard.dev/spiffe-x509" || k.TTL.D() != time.Hour || k.ClusterDomain != "cluster.local" ||
		k.IDTemplate() != DefaultPodCertIDTemplate || !k.PublishTrustBundles() {
		t.Fatalf("documented defaults not applied: %+v", k)
	}
	off, err := Parse([]byte("trust_domain: example.org\n"))
	if err != nil {
		t.Fatal(err)
	}
	if off.KubernetesPodCertificates != nil {
		t.Fatal("the signer is on without its section")
	}
	noDefault, err := Parse([]byte("trust_domain: example.org\nkubernetes_pod_certificates:\n  default_spiffe_id_template: \"\"\n  trust_bundles: false\n"))
	if err != nil {
		t.Fatal(err)
	}
	if k := noDefault.KubernetesPodCertificates; k.IDTemplate() != "" || k.PublishTrustBundles() {
		t.Fatalf("an empty default template and trust_bundles: false were not kept: %+v", k)
	}
}

func TestPodCertificatesErrorsNameTheField(t *testing.T) {
	tests := []struct{ name, section, field, hint string }{
		{"a signer name without a path", "signer_name: lanyard.dev", "signer_name", "exactly one '/'"},
		{"a signer name with two slashes", "signer_name: lanyard.dev/a/b", "signer_name", "exactly one '/'"},
		{"a signer domain of one label", "signer_name: lanyard/spiffe", "signer_name", "two dot-separated labels"},
		{"a reserved kubernetes.io signer", "signer_name: kubernetes.io/spiffe", "signer_name", "reserved"},
		{"a signer name in capitals", "signer_name: Lanyard.dev/spiffe", "signer_name", "Lanyard"},
		{"a TTL under the apiserver's 1h minimum", "ttl: 30m", "ttl", "between 1h"},
		{"a TTL beyond the CA's", "ttl: 48h", "ttl", "ca_ttl"},
		{"a default template that does not parse", `default_spiffe_id_template: "spiffe://{{ .TrustDomain }/x"`, "default_spiffe_id_template", "text/template"},
		{"a refresh under the apiserver's 10m floor", "refresh_after: 5m", "refresh_after", "between 10m"},
		{"a refresh later than 10m before expiry", "refresh_after: 55m", "refresh_after", "ttl minus 10m"},
		{"a missing kubeconfig", "kubeconfig_path: /nonexistent/kubeconfig", "kubeconfig_path", "in-cluster"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte("trust_domain: a.org\nkubernetes_pod_certificates:\n  " + tt.section + "\n"))
			if err == nil || !strings.Contains(err.Error(), "kubernetes_pod_certificates."+tt.field) || !strings.Contains(err.Error(), tt.hint) {
				t.Fatalf("error = %v, want it to name kubernetes_pod_certificates.%s and say %q", err, tt.field, tt.hint)
			}
		})
	}
}
