package spireconf

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lanyard-dev/lanyard/internal/spirehcl/spirehcltest"
	"github.com/lanyard-dev/lanyard/internal/yamlconf"
	"github.com/lanyard-dev/lanyard/server/config"
)

// convertAndParse converts src and parses the result with lanyard-server's own parser.
func convertAndParse(t *testing.T, src string) (config.Config, string) {
	t.Helper()
	return spirehcltest.ConvertAndParse(t, Convert, config.Parse, src)
}

// fullServerConf is testdata/server.conf with its upstream CA files in a temporary
// directory, as lanyard-server checks that they exist.
func fullServerConf(t *testing.T) string {
	t.Helper()
	src, err := os.ReadFile("testdata/server.conf")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, f := range []string{"ca.crt", "ca.key"} {
		if err := os.WriteFile(filepath.Join(dir, f), []byte("pem"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return strings.ReplaceAll(string(src), "/run/spire/upstream", dir)
}

func TestAFullServerConfigConvertsToWhatLanyardReads(t *testing.T) {
	src := fullServerConf(t)
	cfg, out := convertAndParse(t, src)
	d := func(s string) yamlconf.Duration { v, _ := time.ParseDuration(s); return yamlconf.Duration(v) }
	spirehcltest.Fields(t, out, []struct {
		Name      string
		Got, Want any
	}{
		{"trust_domain", cfg.TrustDomain, "prod.acme.example"},
		{"data_dir", cfg.DataDir, "/run/spire/data"},
		{"bind", [2]any{cfg.BindAddress, cfg.BindPort}, [2]any{"0.0.0.0", 8081}},
		{"socket_path becomes admin_socket_path", cfg.AdminSocketPath, "/tmp/spire-server/private/api.sock"},
		{"ca_key_type", cfg.CAKeyType, "rsa-2048"},
		{"ca_key_type also sets the JWT key as in SPIRE", cfg.JWTKeyType, "rsa-2048"},
		{"ca_ttl", cfg.CATTL, d("168h")},
		{"default_x509_svid_ttl", cfg.DefaultX509SVIDTTL, d("4h")},
		{"default_jwt_svid_ttl", cfg.DefaultJWTSVIDTTL, d("10m")},
		{"agent_ttl follows default_x509_svid_ttl as in SPIRE", cfg.AgentTTL, d("4h")},
		{"jwt_issuer", cfg.JWTIssuer, "https://oidc.prod.acme.example"},
		{"log_level is lower-cased", cfg.LogLevel, "debug"},
		{"log_format", cfg.LogFormat, "json"},
		{"health_checks listener", cfg.HealthAddr(), "0.0.0.0:8080"},
		{"key_manager", cfg.KeyManager, "disk"},
		{"datastore type", cfg.Datastore.Type, "postgres"},
		{"datastore connection", cfg.Datastore.ConnectionString, "postgres://spire@db.acme.example:5432/spire?sslmode=verify-full"},
		{"pool", [3]any{cfg.Datastore.MaxOpenConns, cfg.Datastore.MaxIdleConns, cfg.Datastore.ConnMaxLifetime}, [3]any{20, 5, d("1h")}},
		{"bundle endpoint", *cfg.Federation.BundleEndpoint.Port, 8443},
		{"bundle endpoint profile", cfg.Federation.BundleEndpoint.Profile, "https_web"},
		{"bundle endpoint cert", cfg.Federation.BundleEndpoint.CertFile + " " + cfg.Federation.BundleEndpoint.KeyFile,
			"/run/spire/tls/bundle.crt /run/spire/tls/bundle.key"},
		{"refresh_hint", cfg.Federation.BundleEndpoint.RefreshHint, d("10m")},
		{"https_spiffe partner", cfg.Federation.FederatesWith["staging.acme.example"], config.FederatesWithConfig{
			BundleEndpointURL: "https://spire.staging.acme.example:8443", Profile: "https_spiffe",
			EndpointSPIFFEID: "spiffe://staging.acme.example/spire/server"}},
		{"https_web partner", cfg.Federation.FederatesWith["partner.example"], config.FederatesWithConfig{
			BundleEndpointURL: "https://bundle.partner.example/", Profile: "https_web"}},
		{"k8s_psat clusters", len(cfg.NodeAttestors.K8sPSAT.Clusters), 2},
		{"k8s_psat allow list", strings.Join(cfg.NodeAttestors.K8sPSAT.Clusters["edge"].ServiceAccountAllowList, ","), "spire:spire-agent,edge:agent"},
		{"kube_config_file becomes kubeconfig_path", cfg.NodeAttestors.K8sPSAT.Clusters["edge"].KubeconfigPath, "/run/spire/kube/edge.kubeconfig"},
		{"audience", *cfg.NodeAttestors.K8sPSAT.Clusters["prod"].Audience, []string{"spire-server"}},
		{"node labels", cfg.NodeAttestors.K8sPSAT.Clusters["prod"].AllowedNodeLabelKeys, []string{"topology.kubernetes.io/zone"}},
		{"upstream cert", filepath.Base(cfg.UpstreamAuthority.CertFile) + " " + filepath.Base(cfg.UpstreamAuthority.KeyFile), "ca.crt ca.key"},
		{"k8sbundle with SPIRE's defaults", *cfg.KubernetesBundle, config.KubernetesBundleConfig{Namespace: "spire", ConfigMap: "spire-bundle", Key: "bundle.crt"}},
	})
	for _, note := range []string{"ca_subject is dropped", "file_sync_interval is dropped", "keys_path is dropped", "CHANGE the database name", "/healthz",
		`plugins.NodeAttestor "x509pop" is skipped: it has enabled = false`} {
		if !strings.Contains(out, note) {
			t.Errorf("the output does not say %q:\n%s", note, out)
		}
	}
}

func TestServerValuesSPIREReadsDifferently(t *testing.T) {
	const td = "server {\n trust_domain = \"example.org\"\n"
	spirehcltest.Parsed(t, Convert, config.Parse, []struct {
		Name, Src string
		Check     func(config.Config) bool
	}{
		{"bind_address left out listens everywhere, as SPIRE does", td + "}\n",
			func(c config.Config) bool { return c.BindAddress == "0.0.0.0" }},
		{"a TTL above ca_ttl becomes ca_ttl, as SPIRE cuts SVIDs at the CA's expiry", td + " ca_ttl = \"2h\"\n default_x509_svid_ttl = \"72h\"\n agent_ttl = \"3h\"\n}\n",
			func(c config.Config) bool {
				return c.DefaultX509SVIDTTL.D() == 2*time.Hour && c.AgentTTL.D() == 2*time.Hour
			}},
		{"jwt_key_type wins over ca_key_type", td + " ca_key_type = \"ec-p384\"\n jwt_key_type = \"rsa-2048\"\n}\n",
			func(c config.Config) bool { return c.CAKeyType == "ec-p384" && c.JWTKeyType == "rsa-2048" }},
		{"an issuer that is not a URL turns OIDC discovery off", td + " jwt_issuer = \"spire\"\n}\n",
			func(c config.Config) bool { return c.JWTIssuer == "spire" && c.OIDCAddr() == "" }},
		{"SPIRE's sqlite file is not reused", td + "}\nplugins {\n DataStore \"sql\" {\n  plugin_data {\n   database_type = \"sqlite3\"\n" +
			"   connection_string = \"/run/spire/data/datastore.sqlite3\"\n   max_open_conns = 3\n  }\n }\n}\n",
			func(c config.Config) bool {
				return c.Datastore.Type == "sqlite" && c.Datastore.ConnectionString == "/run/spire/data/lanyard-datastore.sqlite3" && c.Datastore.MaxOpenConns == 0
			}},
		{"memory key manager and TRACE logs", td + " log_level = \"trace\"\n}\nplugins {\n KeyManager \"memory\" {}\n}\n",
			func(c config.Config) bool { return c.KeyManager == "memory" && c.LogLevel == "debug" }},
		{"a disabled plugin is skipped", td + "}\nplugins {\n NodeAttestor \"aws_iid\" {\n  enabled = false\n  plugin_data { region = \"x\" }\n }\n}\n",
			func(c config.Config) bool { return c.NodeAttestors.K8sPSAT == nil }},
		{"a bundle endpoint without a profile is https_spiffe", td + " federation {\n  bundle_endpoint {\n   port = 9443\n  }\n }\n}\n",
			func(c config.Config) bool {
				return c.Federation.BundleEndpoint.Profile == "https_spiffe" && *c.Federation.BundleEndpoint.Port == 9443
			}},
		{"a health listener that is off keeps Lanyard's default", td + "}\nhealth_checks {\n listener_enabled = false\n bind_port = 80\n}\n",
			func(c config.Config) bool { return c.HealthAddr() == "127.0.0.1:8082" }},
	})
}

func TestBothPluginDataFormsConvertAlike(t *testing.T) {
	out := spirehcltest.BothPluginDataForms(t, Convert,
		"server {\n trust_domain = \"example.org\"\n}\nplugins {\n NodeAttestor \"k8s_psat\" {\n  plugin_data",
		"\n   clusters = {\n    \"prod\" = {\n     service_account_allow_list = [\"spire:spire-agent\"]\n     kube_config_file = \"/k\"\n    }\n   }\n  }\n }\n}\n")
	cfg, err := config.Parse(out)
	if err != nil || cfg.NodeAttestors.K8sPSAT.Clusters["prod"].KubeconfigPath != "/k" {
		t.Fatalf("parsed %+v, %v\n%s", cfg.NodeAttestors, err, out)
	}
}

func TestUnsupportedServerKeysAreRefusedByName(t *testing.T) {
	const td = "server {\n trust_domain = \"example.org\"\n"
	plugin := func(p string) string { return td + "}\nplugins {\n" + p + "\n}\n" }
	spirehcltest.Refusals(t, Convert, "spire-server.conf", []struct{ Name, Src, Want string }{
		{"another node attestor", plugin(`NodeAttestor "aws_iid" { plugin_data {} }`), `plugins.NodeAttestor "aws_iid": not supported by Lanyard: use NodeAttestor "join_token" or "k8s_psat"`},
		{"a plugin type Lanyard lacks", plugin(`BundlePublisher "aws_s3" { plugin_data {} }`), `plugins.BundlePublisher "aws_s3": not supported by Lanyard (it has no BundlePublisher plugins)`},
		{"a KMS key manager", plugin(`KeyManager "aws_kms" { plugin_data {} }`), `plugins.KeyManager "aws_kms": not supported`},
		{"an external plugin binary", plugin(`KeyManager "disk" { plugin_cmd = "/bin/km" }`), `plugins.KeyManager "disk".plugin_cmd: external plugin binaries`},
		{"plugin_data_file", plugin(`KeyManager "disk" { plugin_data_file = "/km.hcl" }`), `plugins.KeyManager "disk".plugin_data_file: not supported`},
		{"mysql", plugin(`DataStore "sql" { plugin_data { database_type = "mysql" } }`), `plugins.DataStore "sql".plugin_data.database_type: "mysql" is not supported`},
		{"IAM database auth", plugin(`DataStore "sql" { plugin_data { database_type "aws_postgres" { region = "x" } } }`), `database_type: "aws_postgres" (cloud IAM authentication) is not supported`},
		{"a MySQL-only datastore key", plugin(`DataStore "sql" { plugin_data { database_type = "postgres"` + "\n" + `connection_string = "host=db"` + "\n" + `root_ca_path = "/ca" } }`), `plugins.DataStore "sql".plugin_data.root_ca_path: not supported by Lanyard`},
		{"pod UIDs in agent IDs", plugin(`NodeAttestor "k8s_psat" { plugin_data { clusters = { "c" = { service_account_allow_list = ["a:b"]` + "\n" + `use_pod_uid_for_agent_id = true } } } }`), `clusters."c".use_pod_uid_for_agent_id: Lanyard's k8s_psat agent IDs end with the node UID`},
		{"k8sbundle for several clusters", plugin(`Notifier "k8sbundle" { plugin_data { clusters = [] } }`), `plugins.Notifier "k8sbundle".plugin_data.clusters: Lanyard publishes to one cluster`},
		{"two key managers", plugin("KeyManager \"disk\" {}\nKeyManager \"memory\" {}"), `plugins.KeyManager "memory": a second KeyManager`},
		{"ACME", td + " federation { bundle_endpoint { profile \"https_web\" { acme { domain_name = \"a\" } } } }\n}\n", `federation.bundle_endpoint.profile "https_web".acme: ACME is not built into Lanyard`},
		{"ACME the old way", td + " federation { bundle_endpoint { acme { domain_name = \"a\" } } }\n}\n", `server.federation.bundle_endpoint.acme: ACME is not built into Lanyard`},
		{"a partner without a profile", td + " federation { federates_with \"b.org\" { bundle_endpoint_url = \"https://b.org\" } }\n}\n", `server.federation.federates_with "b.org".bundle_endpoint_profile: is required`},
		{"https_spiffe without its ID", td + " federation { federates_with \"b.org\" { bundle_endpoint_url = \"https://b.org\"\nbundle_endpoint_profile \"https_spiffe\" {} } }\n}\n", `bundle_endpoint_profile "https_spiffe".endpoint_spiffe_id: is required`},
		{"admin_ids", td + " admin_ids = [\"spiffe://example.org/admin\"]\n}\n", "server.admin_ids: Lanyard has no admin_ids: give those workloads registration entries with -admin"},
		{"log_file", td + " log_file = \"/var/log/spire.log\"\n}\n", "server.log_file: Lanyard logs to stderr only"},
		{"an unknown server key", td + " ratelimit { attestation = false }\n}\n", "server.ratelimit: not supported by Lanyard: remove it"},
		{"audit logs", td + " audit_log_enabled = true\n}\n", "server.audit_log_enabled: Lanyard has no audit log"},
		{"a bind address that is a name", td + " bind_address = \"spire.local\"\n}\n", `server.bind_address: "spire.local": Lanyard binds to an IP address`},
		{"a duration SPIRE would refuse too", td + " ca_ttl = \"1 day\"\n}\n", `server.ca_ttl: "1 day" is not a duration`},
		{"a TTL below Lanyard's minimum", td + " default_jwt_svid_ttl = \"5s\"\n}\n", "server.default_jwt_svid_ttl: 5s: Lanyard needs at least 10s"},
		{"an unknown key type", td + " ca_key_type = \"ed25519\"\n}\n", `server.ca_key_type: "ed25519": use one of`},
		{"telemetry", td + "}\ntelemetry { Prometheus { port = 9988 } }\n", "telemetry: Lanyard serves Prometheus metrics at /metrics"},
		{"a missing trust domain", "server {\n data_dir = \"/d\"\n}\n", "server.trust_domain: is required"},
		{"an agent file", "agent {\n trust_domain = \"example.org\"\n}\n", "server: block is missing"},
		{"k8s_psat without clusters", plugin(`NodeAttestor "k8s_psat" { plugin_data { clusters = {} } }`), `plugins.NodeAttestor "k8s_psat".plugin_data.clusters: is empty`},
		{"a key given twice", td + " bind_port = 1\n bind_port = 2\n}\n", "server.bind_port: is given more than once"},
	})
}

func TestMalformedHCLIsOneLineWithFileAndPosition(t *testing.T) {
	spirehcltest.OneLineSyntaxError(t, Convert, "spire-server.conf", "server {\n  trust_domain = \"example.org\"\n  bind_port = \n")
}

func TestSPIREsJSONFormConvertsLikeHCL(t *testing.T) {
	spirehcltest.SameOutput(t, Convert, "testdata/server.conf", "testdata/server.json")
}
