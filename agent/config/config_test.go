package config

import (
	"slices"
	"strings"
	"testing"
)

func TestAttestorSections(t *testing.T) {
	const base = "trust_domain: a.org\n"
	cfg, err := Parse([]byte(base + "node_attestor: k8s_psat\nk8s_psat:\n  cluster: prod\n" +
		"workload_attestors:\n  k8s:\n    kubelet_host: 127.0.0.1\n    kubelet_secure_port: 10250\n    kubelet_ca_path: /ca.pem\n"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Attestor() != K8sPSAT || cfg.K8sPSAT.Cluster != "prod" || cfg.WorkloadAttestors.K8s == nil || cfg.WorkloadAttestors.K8s.KubeletHost != "127.0.0.1" {
		t.Fatalf("parsed %+v", cfg)
	}
	cfg, err = Parse([]byte(base + "node_attestor: k8s_psat\nk8s_psat:\n  cluster: prod\nworkload_attestors:\n  k8s: {}\n"))
	if err != nil || cfg.WorkloadAttestors.K8s == nil {
		t.Fatalf("an empty k8s section must enable the attestor with defaults: %+v, %v", cfg.WorkloadAttestors, err)
	}
	cfg, err = Parse([]byte(base + "join_token: abc\n"))
	if err != nil || cfg.Attestor() != JoinToken || cfg.WorkloadAttestors.K8s != nil {
		t.Fatalf("join_token default / k8s off by default: %+v, %v", cfg, err)
	}
	if cfg.WorkloadAPI != (WorkloadAPI{MaxConnectionsPerUID: 1000, MaxConnections: 10000}) {
		t.Fatalf("workload_api defaults: %+v", cfg.WorkloadAPI)
	}
	cfg, err = Parse([]byte(base + "workload_api:\n  max_connections_per_uid: 50\n"))
	if err != nil || cfg.WorkloadAPI != (WorkloadAPI{MaxConnectionsPerUID: 50, MaxConnections: 10000}) {
		t.Fatalf("workload_api.max_connections_per_uid: %+v, %v", cfg.WorkloadAPI, err)
	}
	cfg, err = Parse([]byte(base + "workload_api:\n  max_response_bytes: 67108864\n"))
	if err != nil || cfg.WorkloadAPI.MaxResponseBytes != 64<<20 {
		t.Fatalf("workload_api.max_response_bytes: %+v, %v", cfg.WorkloadAPI, err)
	}

	tests := []struct {
		name, yaml, want string
	}{
		{"an unknown node attestor", "node_attestor: aws_iid\n", `node_attestor "aws_iid"`},
		{"k8s_psat without a cluster", "node_attestor: k8s_psat\n", "k8s_psat.cluster is required"},
		{"k8s_psat with a join token too", "node_attestor: k8s_psat\njoin_token: abc\nk8s_psat:\n  cluster: prod\n", "join_token cannot be combined"},
		{"a cluster name with a slash", "node_attestor: k8s_psat\nk8s_psat:\n  cluster: a/b\n", "k8s_psat.cluster \"a/b\""},
		{"a k8s_psat section without node_attestor", "k8s_psat:\n  cluster: prod\n", "set node_attestor: k8s_psat"},
		{"a kubelet port out of range", "workload_attestors:\n  k8s:\n    kubelet_read_only_port: 70000\n", "workload_attestors.k8s.kubelet_read_only_port"},
		{"skip verification and a CA together", "workload_attestors:\n  k8s:\n    skip_kubelet_verification: true\n    kubelet_ca_path: /ca\n", "skip_kubelet_verification cannot be combined"},
		{"no connections per uid", "workload_api:\n  max_connections_per_uid: 0\n", "workload_api.max_connections_per_uid must be at least 1"},
		{"a total below the per-uid cap", "workload_api:\n  max_connections_per_uid: 50\n  max_connections: 10\n", "workload_api.max_connections (10) must be at least"},
		{"a response bound too small for one SVID", "workload_api:\n  max_response_bytes: 1000\n", "workload_api.max_response_bytes 1000 is below 65536"},
		{"a second YAML document", "---\njoin_token: abc\n", "second YAML document"},
		{"a misspelt k8s key", "workload_attestors:\n  k8s:\n    kubelet_port: 1\n", "kubelet_port"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(base + tt.yaml))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestServerAddresses(t *testing.T) {
	tests := []struct {
		name, yaml string
		want       []string
	}{
		{"the default is the local server", "", []string{"127.0.0.1:8081"}},
		{"one address takes server_port", "server_address: lanyard.example.org\nserver_port: 9000", []string{"lanyard.example.org:9000"}},
		{"a list keeps its order and its own ports", "server_address: [10.0.0.1, '10.0.0.2:8091', '[::1]:7']",
			[]string{"10.0.0.1:8081", "10.0.0.2:8091", "[::1]:7"}},
		{"a bare IPv6 address is a host", "server_address: ['::1']", []string{"[::1]:8081"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Parse([]byte("trust_domain: example.org\n" + tt.yaml))
			if err != nil {
				t.Fatal(err)
			}
			if got := cfg.ServerAddrs(); !slices.Equal(got, tt.want) {
				t.Fatalf("ServerAddrs = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestServerAddressErrorsNameTheField(t *testing.T) {
	tests := []struct{ name, yaml, field string }{
		{"an empty list", "server_address: []", "server_address"},
		{"an address without a host", "server_address: [a, ':8081']", "server_address[1]"},
		{"a bad port in the list", "server_address: ['a:99999']", "server_address[0]"},
		{"a mapping", "server_address: {a: b}", "line 2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte("trust_domain: example.org\n" + tt.yaml))
			if err == nil || !strings.Contains(err.Error(), tt.field) {
				t.Fatalf("error = %v, want it to name %q", err, tt.field)
			}
		})
	}
}

// TestAdminSocketStaysOutOfWorkloadsReach: the admin socket is off unless configured, and
// a path workloads could reach through the Workload API socket's directory is refused
// naming the key, as SPIRE refuses it.
func TestAdminSocketStaysOutOfWorkloadsReach(t *testing.T) {
	const base = "trust_domain: a.org\nsocket_path: /run/lanyard/sockets/api.sock\n"
	cfg, err := Parse([]byte(base))
	if err != nil || cfg.AdminSocketPath != "" {
		t.Fatalf("the admin socket must be off by default: %q, %v", cfg.AdminSocketPath, err)
	}
	cfg, err = Parse([]byte(base + "admin_socket_path: /run/lanyard/admin/agent.sock\n"))
	if err != nil || cfg.AdminSocketPath != "/run/lanyard/admin/agent.sock" {
		t.Fatalf("an admin socket in its own directory: %q, %v", cfg.AdminSocketPath, err)
	}
	tests := []struct{ name, path, want string }{
		{"the Workload API socket itself", "/run/lanyard/sockets/api.sock", "admin_socket_path is the Workload API's socket_path"},
		{"the same path spelt differently", "/run/lanyard/sockets/../sockets/api.sock", "admin_socket_path is the Workload API's socket_path"},
		{"next to the Workload API socket", "/run/lanyard/sockets/admin.sock", "admin_socket_path /run/lanyard/sockets/admin.sock is in the directory of the Workload API socket"},
		{"below the Workload API socket's directory", "/run/lanyard/sockets/private/admin.sock", "which workloads can reach"},
		{"a relative path", "admin.sock", `admin_socket_path "admin.sock" must be an absolute path`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(base + "admin_socket_path: " + tt.path + "\n"))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

// TestAuthorizedDelegatesNameIDsOfTheTrustDomain: authorized_delegates are SPIFFE IDs of
// the agent's own trust domain (delegates hold this agent's SVIDs), served on the admin
// socket, so they need one.
func TestAuthorizedDelegatesNameIDsOfTheTrustDomain(t *testing.T) {
	const base = "trust_domain: a.org\nsocket_path: /run/lanyard/sockets/api.sock\n"
	const admin = "admin_socket_path: /run/lanyard/admin/agent.sock\n"
	cfg, err := Parse([]byte(base + admin + "authorized_delegates: [spiffe://a.org/cilium, spiffe://a.org/envoy]\n"))
	if err != nil || len(cfg.DelegateIDs()) != 2 || cfg.DelegateIDs()[1].Path() != "/envoy" {
		t.Fatalf("two delegates: %v, %v", cfg.AuthorizedDelegates, err)
	}
	cfg, err = Parse([]byte(base + "broker_api: {socket_path: /run/lanyard/broker/api.sock, authorized_brokers: [spiffe://a.org/mesh]}\n"))
	if err != nil || cfg.BrokerIDs()[0].Path() != "/mesh" {
		t.Fatalf("a broker API: %v", err)
	}
	tests := []struct{ name, doc, want string }{
		{"without an admin socket", base + "authorized_delegates: [spiffe://a.org/cilium]\n", "authorized_delegates needs admin_socket_path"},
		{"not a SPIFFE ID", base + admin + "authorized_delegates: [cilium]\n", `authorized_delegates[0] "cilium" is not a SPIFFE ID`},
		{"another trust domain", base + admin + "authorized_delegates: [spiffe://a.org/x, spiffe://b.org/cilium]\n",
			"authorized_delegates[1] spiffe://b.org/cilium is not in trust domain a.org"},
		{"a broker socket beside the Workload API's", base + "broker_api: {socket_path: /run/lanyard/sockets/broker.sock, authorized_brokers: [spiffe://a.org/b]}\n",
			"broker_api.socket_path is in the Workload API socket's directory"},
		{"a broker API without brokers", base + "broker_api: {socket_path: /run/lanyard/broker/api.sock}\n", "broker_api.authorized_brokers is required"},
		{"a broker of another trust domain", base + "broker_api: {socket_path: /run/lanyard/broker/api.sock, authorized_brokers: [spiffe://b.org/b]}\n",
			"broker_api.authorized_brokers[0] spiffe://b.org/b is not in trust domain a.org"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Parse([]byte(tt.doc)); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}
