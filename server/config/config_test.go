package config

import (
	"strings"
	"testing"
	"time"
)

func TestParseDefaults(t *testing.T) {
	cfg, err := Parse([]byte("trust_domain: example.org\n"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.CATTL.D() != 24*time.Hour || cfg.DefaultX509SVIDTTL.D() != time.Hour || cfg.DefaultJWTSVIDTTL.D() != 5*time.Minute {
		t.Fatalf("documented TTL defaults not applied: %+v", cfg)
	}
	if cfg.CAKeyType != "ec-p256" || cfg.KeyManager != "disk" || cfg.Datastore.Type != "sqlite" {
		t.Fatalf("documented defaults not applied: %+v", cfg)
	}
	if !strings.HasSuffix(cfg.Datastore.ConnectionString, "datastore.sqlite3") {
		t.Fatalf("sqlite path default = %q", cfg.Datastore.ConnectionString)
	}
}

func TestParseErrorsNameTheField(t *testing.T) {
	tests := []struct {
		name, yaml, field string
	}{
		{"a missing trust domain", "", "trust_domain"},
		{"an invalid trust domain", "trust_domain: Bad Domain", "trust_domain"},
		{"an unknown key (typo)", "trust_domain: a.org\nca_tll: 1h", "ca_tll"},
		{"an unknown key type", "trust_domain: a.org\nca_key_type: dsa", "ca_key_type"},
		{"an unparsable duration", "trust_domain: a.org\nca_ttl: forever", "ca_ttl"},
		{"whole seconds that overflow a duration (would wrap to 48h)", "trust_domain: a.org\nca_ttl: 18446916874", "ca_ttl"},
		{"a federated trust domain written as an ID", "trust_domain: a.org\nfederation:\n  federates_with:\n    spiffe://b.org:\n" +
			"      bundle_endpoint_url: https://b.org/\n      profile: https_web", "federation.federates_with.spiffe://b.org"},
		{"an SVID TTL beyond the CA TTL", "trust_domain: a.org\nca_ttl: 1h\ndefault_x509_svid_ttl: 2h", "default_x509_svid_ttl"},
		{"a relative admin socket", "trust_domain: a.org\nadmin_socket_path: admin.sock", "admin_socket_path"},
		{"a bad bind address", "trust_domain: a.org\nbind_address: localhost:1", "bind_address"},
		{"a health address with a port that is no number (found by FuzzParse)", "trust_domain: a.org\nhealth_address: 0000000:A", "health_address"},
		{"an OIDC address with a service name for a port", "trust_domain: a.org\noidc:\n  address: 127.0.0.1:http", "oidc.address"},
		{"an unknown datastore", "trust_domain: a.org\ndatastore:\n  type: mongo", "datastore.type"},
		{"an unknown log level", "trust_domain: a.org\nlog_level: loud", "log_level"},
		{"a second YAML document", "trust_domain: a.org\n---\nca_ttl: 1h\n", "second YAML document at line 3"},
		{"registration without a cluster", "trust_domain: a.org\nkubernetes_registration:\n  resync_interval: 1m", "kubernetes_registration.cluster"},
		{"an upstream authority without a key", "trust_domain: a.org\nupstream_authority:\n  cert_file: /etc/hostname", "upstream_authority.key_file"},
		{"a bundle ConfigMap without a name", "trust_domain: a.org\nkubernetes_bundle:\n  namespace: lanyard", "kubernetes_bundle.config_map"},
		{"registration with a missing kubeconfig", "trust_domain: a.org\nkubernetes_registration:\n  cluster: c1\n  kubeconfig_path: /nonexistent/kubeconfig", "kubernetes_registration.kubeconfig_path"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.yaml))
			if err == nil || !strings.Contains(err.Error(), tt.field) {
				t.Fatalf("error = %v, want it to name %q", err, tt.field)
			}
		})
	}
}

func TestOverridesApplyOverFile(t *testing.T) {
	cfg, err := Parse([]byte("trust_domain: a.org\ndata_dir: /x\n"), []byte("data_dir: /y\n"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.DataDir != "/y" || cfg.TrustDomain != "a.org" {
		t.Fatalf("got %+v", cfg)
	}
}

func TestKubernetesRegistrationDefaults(t *testing.T) {
	cfg, err := Parse([]byte("trust_domain: a.org\nkubernetes_registration:\n  cluster: c1\n"))
	if err != nil {
		t.Fatal(err)
	}
	k := cfg.KubernetesRegistration
	if k == nil || k.ClusterDomain != "cluster.local" || k.ResyncInterval.D() != time.Minute {
		t.Fatalf("defaults not applied: %+v", k)
	}
	if cfg, _ := Parse([]byte("trust_domain: a.org\n")); cfg.KubernetesRegistration != nil {
		t.Fatal("registration is on without being configured")
	}
}

func TestK8sPSATSection(t *testing.T) {
	const base = "trust_domain: a.org\nnode_attestors:\n  k8s_psat:\n"
	cfg, err := Parse([]byte(base + "    clusters:\n      prod:\n        service_account_allow_list: [\"spire:spire-agent\"]\n        kubeconfig_path: /etc/kube/prod\n        allowed_pod_label_keys: [app]\n"))
	if err != nil {
		t.Fatal(err)
	}
	c := cfg.NodeAttestors.K8sPSAT.Clusters["prod"]
	if c.KubeconfigPath != "/etc/kube/prod" || c.Audience != nil || len(c.AllowedPodLabelKeys) != 1 {
		t.Fatalf("cluster prod = %+v", c)
	}
	if cfg, err := Parse([]byte("trust_domain: a.org\n")); err != nil || cfg.NodeAttestors.K8sPSAT != nil {
		t.Fatalf("k8s_psat is enabled without a section: %+v, %v", cfg.NodeAttestors, err)
	}

	tests := []struct {
		name, yaml, want string
	}{
		{"a section without clusters", base + "    clusters: {}\n", "node_attestors.k8s_psat.clusters is empty"},
		{"a cluster without an allow list", base + "    clusters:\n      prod: {}\n", "node_attestors.k8s_psat.clusters.prod.service_account_allow_list is required"},
		{"an allow list entry without a namespace", base + "    clusters:\n      prod:\n        service_account_allow_list: [spire-agent]\n", `clusters.prod.service_account_allow_list entry "spire-agent"`},
		{"a cluster name that cannot be part of an ID", base + "    clusters:\n      \"my cluster\":\n        service_account_allow_list: [\"a:b\"]\n", "clusters.my cluster is not a usable cluster name"},
		{"an empty audience", base + "    clusters:\n      prod:\n        service_account_allow_list: [\"a:b\"]\n        audience: [\"\"]\n", "clusters.prod.audience holds an empty audience"},
		{"a misspelt key", base + "    clusters:\n      prod:\n        service_account_allowlist: [\"a:b\"]\n", "service_account_allowlist"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.yaml))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestDatastorePostgres(t *testing.T) {
	cfg, err := Parse([]byte("trust_domain: a.org\ndatastore:\n  type: postgres\n  connection_string: postgres://l@db:5432/lanyard\n" +
		"  max_open_conns: 20\n  max_idle_conns: 5\n  conn_max_lifetime: 1h\n  conn_max_idle_time: 1m\n"))
	if err != nil {
		t.Fatal(err)
	}
	d := cfg.Datastore
	if d.MaxOpenConns != 20 || d.MaxIdleConns != 5 || d.ConnMaxLifetime.D() != time.Hour || d.ConnMaxIdleTime.D() != time.Minute {
		t.Fatalf("pool settings not read: %+v", d)
	}
	tests := []struct {
		name, yaml, field string
	}{
		{"postgres without a connection string", "type: postgres", "datastore.connection_string"},
		{"an unparsable connection string", "type: postgres\n  connection_string: 'postgres://u:s3cret@h:port/db'", "datastore.connection_string"},
		{"a negative pool size", "type: postgres\n  connection_string: host=db\n  max_open_conns: -1", "datastore.max_open_conns"},
		{"more idle than open connections", "type: postgres\n  connection_string: host=db\n  max_open_conns: 2\n  max_idle_conns: 3", "datastore.max_idle_conns"},
		{"pool settings for sqlite", "type: sqlite\n  max_open_conns: 3", "datastore.max_open_conns"},
		{"a PostgreSQL URL without the type", "connection_string: postgres://l@db/lanyard", "datastore.type: postgres"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte("trust_domain: a.org\ndatastore:\n  " + tt.yaml + "\n"))
			if err == nil || !strings.Contains(err.Error(), tt.field) {
				t.Fatalf("error = %v, want it to name %q", err, tt.field)
			}
			if strings.Contains(err.Error(), "s3cret") {
				t.Fatalf("error %q shows the password", err)
			}
		})
	}
}
