package spireconf

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/lanyard-dev/lanyard/attestors/x509pop/x509poptest"

	"github.com/lanyard-dev/lanyard/internal/spirehcl/spirehcltest"
)

func TestX509PoPPluginConverts(t *testing.T) {
	const head = "server {\n trust_domain = \"example.org\"\n}\nplugins {\n NodeAttestor \"x509pop\" {\n  plugin_data {\n"
	ca := x509poptest.NewCA(t, "agents", nil)
	a := x509poptest.WriteBundle(t, filepath.Join(t.TempDir(), "a.pem"), ca)
	b := x509poptest.WriteBundle(t, filepath.Join(t.TempDir(), "b.pem"), ca)
	cfg, out := convertAndParse(t, head+"   ca_bundle_paths = [\""+a+"\", \""+b+"\"]\n"+
		"   agent_path_template = \"/cn/{{ .Subject.CommonName }}\"\n   max_intermediates = 2\n   verify_client_ip = false\n  }\n }\n}\n")
	x := cfg.NodeAttestors.X509PoP
	if x == nil || strings.Join(x.BundlePaths(), ",") != a+","+b || x.AgentPathTemplate != "/cn/{{ .Subject.CommonName }}" || x.MaxIntermediates != 2 {
		t.Fatalf("x509pop = %+v\n%s", x, out)
	}
	// SPIRE's plugin reads spiffe_prefix although its documentation says svid_prefix.
	cfg, out = convertAndParse(t, head+"   mode = \"spiffe\"\n   spiffe_prefix = \"/exchange\"\n  }\n }\n}\n")
	if x := cfg.NodeAttestors.X509PoP; x == nil || x.Mode != "spiffe" || x.SVIDPrefix == nil || *x.SVIDPrefix != "/exchange" {
		t.Fatalf("x509pop = %+v\n%s", x, out)
	}
	spirehcltest.Refusals(t, Convert, "spire-server.conf", []struct{ Name, Src, Want string }{
		{"verify_client_ip", head + "   ca_bundle_path = \"/ca.pem\"\n   verify_client_ip = true\n  }\n }\n}\n",
			`plugins.NodeAttestor "x509pop".plugin_data.verify_client_ip: Lanyard does not match agents' addresses`},
		{"a limit of zero", head + "   ca_bundle_path = \"/ca.pem\"\n   max_rsa_key_size = 0\n  }\n }\n}\n",
			`plugins.NodeAttestor "x509pop".plugin_data.max_rsa_key_size: must be greater than 0`},
		{"an unknown key", head + "   ca_bundle_path = \"/ca.pem\"\n   ca_bundle = \"/x\"\n  }\n }\n}\n",
			`plugins.NodeAttestor "x509pop".plugin_data.ca_bundle: not supported by Lanyard`},
	})
}
