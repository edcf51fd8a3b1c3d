package spireconf

import (
	"os"
	"strings"
	"testing"

	"github.com/lanyard-dev/lanyard/agent/config"
	"github.com/lanyard-dev/lanyard/internal/spirehcl/spirehcltest"
)

// convertAndParse converts src and parses the result with lanyard-agent's own parser.
func convertAndParse(t *testing.T, src string) (config.Config, string) {
	t.Helper()
	return spirehcltest.ConvertAndParse(t, Convert, config.Parse, src)
}

func TestAFullAgentConfigConvertsToWhatLanyardReads(t *testing.T) {
	src, err := os.ReadFile("testdata/agent.conf")
	if err != nil {
		t.Fatal(err)
	}
	cfg, out := convertAndParse(t, string(src))
	spirehcltest.Fields(t, out, []struct {
		Name      string
		Got, Want any
	}{
		{"trust_domain", cfg.TrustDomain, "prod.acme.example"},
		{"server", cfg.ServerAddrs(), []string{"spire-server.spire.svc:8081"}},
		{"data_dir", cfg.DataDir, "/run/spire"},
		{"socket_path", cfg.SocketPath, "/run/spire/sockets/agent.sock"},
		{"trust_bundle_path", cfg.TrustBundlePath, "/run/spire/bundle/bundle.crt"},
		{"log_level is lower-cased", cfg.LogLevel, "warn"},
		{"log_format", cfg.LogFormat, "text"},
		{"node attestor", cfg.Attestor(), config.K8sPSAT},
		{"k8s_psat", cfg.K8sPSAT, config.K8sPSATAttestor{Cluster: "prod", TokenPath: "/var/run/secrets/tokens/spire-agent"}},
		{"k8s workload attestor", *cfg.WorkloadAttestors.K8s, config.K8sAttestor{KubeletSecurePort: 10250, SkipKubeletVerification: true, NodeNameEnv: "MY_NODE_NAME"}},
		{"unix discover_workload_path", cfg.DiscoverWorkloadPath(), true},
		{"health_checks listener", cfg.HealthAddr(), "0.0.0.0:8080"},
	})
	for _, note := range []string{"KeyManager \"memory\" has no Lanyard setting", "/healthz",
		"use_new_container_locator is dropped"} {
		if !strings.Contains(out, note) {
			t.Errorf("the output does not say %q:\n%s", note, out)
		}
	}
}

func TestAgentValuesSPIREReadsDifferently(t *testing.T) {
	const td = "agent {\n trust_domain = \"example.org\"\n"
	spirehcltest.Parsed(t, Convert, config.Parse, []struct {
		Name, Src string
		Check     func(config.Config) bool
	}{
		{"socket_path left out is SPIRE's default, where workloads look", td + "}\n",
			func(c config.Config) bool { return c.SocketPath == "/tmp/spire-agent/public/api.sock" }},
		{"unix without discover_workload_path keeps SPIRE's default of false", td + "}\nplugins {\n WorkloadAttestor \"unix\" {\n  plugin_data {}\n }\n}\n",
			func(c config.Config) bool { return !c.DiscoverWorkloadPath() }},
		{"a join token and insecure bootstrap", td + " join_token = \"abc\"\n insecure_bootstrap = true\n}\nplugins {\n NodeAttestor \"join_token\" {}\n}\n",
			func(c config.Config) bool {
				return c.JoinToken == "abc" && c.InsecureBootstrap && c.Attestor() == config.JoinToken
			}},
		{"a numeric port and a read-only kubelet port", td + " server_address = \"10.0.0.1\"\n server_port = 9081\n}\nplugins {\n WorkloadAttestor \"k8s\" {\n  plugin_data = {\n   kubelet_read_only_port = 10255\n  }\n }\n}\n",
			func(c config.Config) bool {
				return c.ServerAddrs()[0] == "10.0.0.1:9081" && c.WorkloadAttestors.K8s.KubeletReadOnlyPort == 10255
			}},
		{"the admin socket serves the Logger and Debug APIs", td + " admin_socket_path = \"/run/spire/admin/agent.sock\"\n}\n",
			func(c config.Config) bool { return c.AdminSocketPath == "/run/spire/admin/agent.sock" }},
		{"authorized delegates keep SPIRE's key", td + " admin_socket_path = \"/run/spire/admin/agent.sock\"\n authorized_delegates = [\"spiffe://example.org/cilium\", \"spiffe://example.org/envoy\"]\n}\n",
			func(c config.Config) bool {
				return strings.Join(c.AuthorizedDelegates, " ") == "spiffe://example.org/cilium spiffe://example.org/envoy"
			}},
		{"SDS names equal to Lanyard's are accepted", td + " sds {\n  default_all_bundles_name = \"ALL\"\n }\n rebootstrap_mode = \"never\"\n rebootstrap_delay = \"10m\"\n}\n",
			func(c config.Config) bool { return true }},
	})
}

func TestBothPluginDataFormsConvertAlike(t *testing.T) {
	out := spirehcltest.BothPluginDataForms(t, Convert,
		"agent {\n trust_domain = \"example.org\"\n}\nplugins {\n NodeAttestor \"k8s_psat\" {\n  plugin_data",
		"\n   cluster = \"prod\"\n  }\n }\n}\n")
	if cfg, err := config.Parse(out); err != nil || cfg.K8sPSAT.Cluster != "prod" {
		t.Fatalf("parsed %+v, %v\n%s", cfg.K8sPSAT, err, out)
	}
}

func TestUnsupportedAgentKeysAreRefusedByName(t *testing.T) {
	const td = "agent {\n trust_domain = \"example.org\"\n"
	plugin := func(p string) string { return td + "}\nplugins {\n" + p + "\n}\n" }
	spirehcltest.Refusals(t, Convert, "spire-agent.conf", []struct{ Name, Src, Want string }{
		{"a cloud node attestor", plugin(`NodeAttestor "aws_iid" { plugin_data {} }`), `plugins.NodeAttestor "aws_iid": not supported by Lanyard: use NodeAttestor "join_token" or "k8s_psat"`},
		{"the docker workload attestor", plugin(`WorkloadAttestor "docker" { plugin_data {} }`), `plugins.WorkloadAttestor "docker": not supported by Lanyard: use WorkloadAttestor "unix" or "k8s"`},
		{"an SVID store", plugin(`SVIDStore "aws_secretsmanager" { plugin_data {} }`), `plugins.SVIDStore "aws_secretsmanager": not supported by Lanyard (it has no SVIDStore plugins)`},
		{"two node attestors", plugin("NodeAttestor \"join_token\" {}\nNodeAttestor \"k8s_psat\" { plugin_data { cluster = \"c\" } }"), `plugins.NodeAttestor "k8s_psat": a second NodeAttestor`},
		{"k8s_psat without a cluster", plugin(`NodeAttestor "k8s_psat" { plugin_data {} }`), `plugins.NodeAttestor "k8s_psat".plugin_data.cluster: is required`},
		{"kubelet client certificates", plugin(`WorkloadAttestor "k8s" { plugin_data { certificate_path = "/c" } }`), `plugins.WorkloadAttestor "k8s".plugin_data.certificate_path: Lanyard authenticates to the kubelet with the bearer token`},
		{"sigstore", plugin(`WorkloadAttestor "k8s" { plugin_data { sigstore { rekor_url = "x" } } }`), `plugin_data.sigstore: Lanyard does not check image signatures`},
		{"a workload size limit", plugin(`WorkloadAttestor "unix" { plugin_data { workload_size_limit = 1024 } }`), `plugin_data.workload_size_limit: 1024: Lanyard hashes workload binaries without a size limit`},
		{"an unknown plugin_data key", plugin(`NodeAttestor "k8s_psat" { plugin_data { cluster = "c"` + "\n" + `audience = "x" } }`), `plugins.NodeAttestor "k8s_psat".plugin_data.audience: not supported by Lanyard: remove it`},
		{"an external plugin", plugin(`WorkloadAttestor "unix" { plugin_cmd = "/bin/u" }`), `plugins.WorkloadAttestor "unix".plugin_cmd: external plugin binaries`},
		{"delegates without an admin socket", td + " authorized_delegates = [\"spiffe://example.org/d\"]\n}\n", "agent.authorized_delegates: needs admin_socket_path"},
		{"a trust bundle URL", td + " trust_bundle_url = \"https://x/b.pem\"\n}\n", "agent.trust_bundle_url: Lanyard bootstraps from a trust_bundle_path file only"},
		{"a SPIFFE-format bundle", td + " trust_bundle_format = \"spiffe\"\n}\n", `agent.trust_bundle_format: "spiffe": Lanyard reads a PEM trust_bundle_path`},
		{"log_file", td + " log_file = \"/var/log/a\"\n}\n", "agent.log_file: Lanyard logs to stderr only"},
		{"rebootstrapping", td + " rebootstrap_mode = \"auto\"\n}\n", `agent.rebootstrap_mode: "auto": Lanyard never re-bootstraps`},
		{"RSA workload keys", td + " workload_x509_svid_key_type = \"rsa-2048\"\n}\n", `agent.workload_x509_svid_key_type: "rsa-2048": Lanyard's workload keys are ec-p256`},
		{"other SDS names", td + " sds { default_svid_name = \"svid\" }\n}\n", `agent.sds.default_svid_name: "svid": Lanyard's SDS names this secret "default"`},
		{"no SDS", td + " disable_sds_api = true\n}\n", "agent.disable_sds_api: Lanyard always serves SDS"},
		{"an unknown agent key", td + " allowed_foreign_jwt_claims = [\"a\"]\n}\n", "agent.allowed_foreign_jwt_claims: not supported by Lanyard: remove it"},
		{"a server file", "server {\n trust_domain = \"example.org\"\n}\n", "agent: block is missing"},
		{"a refusal in SPIRE's JSON form", `{"agent": {"trust_domain": "example.org", "log_file": "/var/log/a"}}`, "spire-agent.conf: agent.log_file: Lanyard logs to stderr only"},
		{"a bad server_port", td + " server_port = \"http\"\n}\n", "agent.server_port: want a whole number"},
	})
}

func TestMalformedAgentHCLIsOneLineWithFileAndPosition(t *testing.T) {
	spirehcltest.OneLineSyntaxError(t, Convert, "spire-agent.conf", "agent {\n  trust_domain = \"example.org\"\n  server_port = [\n}\n")
	spirehcltest.OneLineSyntaxError(t, Convert, "spire-agent.conf", "{\"agent\": {\n  \"trust_domain\": }}\n")
}

func TestSPIREsJSONFormConvertsLikeHCL(t *testing.T) {
	spirehcltest.SameOutput(t, Convert, "testdata/agent.conf", "testdata/agent.json")
}
