package spireconf

import (
	"testing"

	"github.com/lanyard-dev/lanyard/agent/config"
	"github.com/lanyard-dev/lanyard/internal/spirehcl/spirehcltest"
)

func TestX509PoPPluginConverts(t *testing.T) {
	const head = "agent {\n trust_domain = \"example.org\"\n server_address = \"spire-server\"\n trust_bundle_path = \"/b.pem\"\n}\n" +
		"plugins {\n NodeAttestor \"x509pop\" {\n  plugin_data {\n"
	cfg, out := convertAndParse(t, head+"   private_key_path = \"/opt/spire/agent.key.pem\"\n   certificate_path = \"/opt/spire/agent.crt.pem\"\n"+
		"   intermediates_path = \"/opt/spire/inter.pem\"\n  }\n }\n}\n")
	want := config.X509PoPAttestor{CertificatePath: "/opt/spire/agent.crt.pem", PrivateKeyPath: "/opt/spire/agent.key.pem", IntermediatesPath: "/opt/spire/inter.pem"}
	if cfg.Attestor() != config.X509PoP || cfg.X509PoP != want {
		t.Fatalf("converted to %s %+v\n%s", cfg.Attestor(), cfg.X509PoP, out)
	}
	spirehcltest.Refusals(t, Convert, "spire-agent.conf", []struct{ Name, Src, Want string }{
		{"an SVID from another Workload API", head + "   spiffe_endpoint_socket = \"/run/other.sock\"\n  }\n }\n}\n",
			`plugins.NodeAttestor "x509pop".plugin_data.spiffe_endpoint_socket: Lanyard's x509pop reads the node's certificate from files`},
		{"no key", head + "   certificate_path = \"/c.pem\"\n  }\n }\n}\n",
			`plugins.NodeAttestor "x509pop".plugin_data.private_key_path: is required`},
	})
}
