package config

import (
	"net"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
)

// FuzzParse feeds agent configuration files. An accepted configuration must give
// dialable server addresses and, for k8s_psat, a cluster name that forms agent IDs.
func FuzzParse(f *testing.F) {
	for _, doc := range []string{
		"trust_domain: example.org\n",
		"trust_domain: example.org\ndata_dir: /var/lib/lanyard/agent\ntrust_bundle_path: bundle.pem\njoin_token: 0123abcd\n",
		"trust_domain: example.org\nserver_address: [10.0.0.1, \"10.0.0.2:8091\", \"[::1]:8081\", \"::1\", lanyard.example.org]\nserver_port: 9000\n",
		"trust_domain: example.org\nnode_attestor: k8s_psat\nk8s_psat:\n  cluster: prod\nworkload_attestors:\n  k8s:\n    kubelet_read_only_port: 10255\n",
		"trust_domain: example.org\nworkload_attestors:\n  unix:\n    discover_workload_path: false\n",
		"trust_domain: example.org\nserver_address: \"a:b:c\"\n",
		"trust_domain: example.org\ninsecure_bootstrap: true\nhealth_address: \"\"\n",
		"trust_domain: example.org\nserver_address: \"lanyard:+8081\"\nhealth_address: 127.0.0.1:http\n",
		"trust_domain: example.org\n---\nserver_address: evil.org\n",
	} {
		f.Add([]byte(doc))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := Parse(data)
		if err != nil {
			return
		}
		if td, err := spiffeid.TrustDomainFromString(cfg.TrustDomain); err != nil || td != cfg.TD() {
			t.Fatalf("accepted trust_domain %q: %v", cfg.TrustDomain, err)
		}
		addrs := cfg.ServerAddrs()
		if len(addrs) == 0 {
			t.Fatal("accepted a configuration without server addresses")
		}
		for _, addr := range addrs {
			host, port, err := net.SplitHostPort(addr)
			if err != nil || host == "" {
				t.Fatalf("accepted server address %q: %v", addr, err)
			}
			if p, err := strconv.ParseUint(port, 10, 16); err != nil || p == 0 {
				t.Fatalf("accepted server address %q with port %q", addr, port)
			}
		}
		if cfg.Attestor() == K8sPSAT {
			if _, err := spiffeid.FromSegments(cfg.TD(), "spire", "agent", K8sPSAT, cfg.K8sPSAT.Cluster, "node-uid"); err != nil {
				t.Fatalf("accepted k8s_psat cluster %q that forms no agent ID: %v", cfg.K8sPSAT.Cluster, err)
			}
		}
		if h := cfg.HealthAddr(); h != "" {
			if _, port, err := net.SplitHostPort(h); err != nil || port == "" || strings.Trim(port, "0123456789") != "" {
				t.Fatalf("accepted health_address %q: %v", h, err)
			}
		}
		again := cfg
		if err := again.Validate(); err != nil || !reflect.DeepEqual(again, cfg) {
			t.Fatalf("validating an accepted configuration again fails or changes it: %v", err)
		}
	})
}
