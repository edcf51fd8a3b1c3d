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
		{"an SVID TTL beyond the CA TTL", "trust_domain: a.org\nca_ttl: 1h\ndefault_x509_svid_ttl: 2h", "default_x509_svid_ttl"},
		{"a relative admin socket", "trust_domain: a.org\nadmin_socket_path: admin.sock", "admin_socket_path"},
		{"a bad bind address", "trust_domain: a.org\nbind_address: localhost:1", "bind_address"},
		{"an unknown datastore", "trust_domain: a.org\ndatastore:\n  type: mongo", "datastore.type"},
		{"an unknown log level", "trust_domain: a.org\nlog_level: loud", "log_level"},
		{"registration without a cluster", "trust_domain: a.org\nkubernetes_registration:\n  resync_interval: 1m", "kubernetes_registration.cluster"},
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
	cfg, err := ParseWithOverrides([]byte("trust_domain: a.org\ndata_dir: /x\n"), []byte("data_dir: /y\n"))
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
