package spireconf

import (
	"testing"

	"github.com/lanyard-dev/lanyard/internal/spirehcl/spirehcltest"
	"github.com/lanyard-dev/lanyard/server/config"
)

func TestSPIREsTPMDevIDPluginConvertsUnderTheSameNames(t *testing.T) {
	cfg, out := convertAndParse(t, `server {
    trust_domain = "example.org"
}
plugins {
    NodeAttestor "tpm_devid" {
        plugin_data {
            devid_ca_path = "/opt/spire/conf/server/devid-cacert.pem"
            endorsement_ca_path = "/opt/spire/conf/server/endorsement-cacert.pem"
        }
    }
}
`)
	spirehcltest.Fields(t, out, []struct {
		Name      string
		Got, Want any
	}{
		{"tpm_devid", *cfg.NodeAttestors.TPMDevID, config.TPMDevID{DevIDCAPath: "/opt/spire/conf/server/devid-cacert.pem",
			EndorsementCAPath: "/opt/spire/conf/server/endorsement-cacert.pem"}},
	})
	spirehcltest.Refusals(t, Convert, "server.conf", []struct{ Name, Src, Want string }{
		{"tpm_devid without manufacturer CAs", "server {\n trust_domain = \"example.org\"\n}\nplugins {\n NodeAttestor \"tpm_devid\" { plugin_data { devid_ca_path = \"/c\" } }\n}\n",
			`plugins.NodeAttestor "tpm_devid".plugin_data.endorsement_ca_path: is required`},
	})
}
