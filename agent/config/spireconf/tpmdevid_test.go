package spireconf

import (
	"testing"

	"github.com/lanyard-dev/lanyard/agent/config"
	"github.com/lanyard-dev/lanyard/internal/spirehcl/spirehcltest"
)

func TestSPIREsTPMDevIDPluginConvertsUnderTheSameNames(t *testing.T) {
	cfg, out := convertAndParse(t, `agent {
    trust_domain = "example.org"
}
plugins {
    NodeAttestor "tpm_devid" {
        plugin_data {
            tpm_device_path = "/dev/tpmrm0"
            devid_cert_path = "/opt/spire/conf/agent/devid.crt.pem"
            devid_priv_path = "/opt/spire/conf/agent/devid.priv.blob"
            devid_pub_path = "/opt/spire/conf/agent/devid.pub.blob"
            owner_hierarchy_password = "owner"
        }
    }
}
`)
	spirehcltest.Fields(t, out, []struct {
		Name      string
		Got, Want any
	}{
		{"node attestor", cfg.Attestor(), config.TPMDevID},
		{"tpm_devid", cfg.TPMDevID, config.TPMDevIDAttestor{DevicePath: "/dev/tpmrm0", DevIDCertPath: "/opt/spire/conf/agent/devid.crt.pem",
			DevIDPrivPath: "/opt/spire/conf/agent/devid.priv.blob", DevIDPubPath: "/opt/spire/conf/agent/devid.pub.blob", OwnerHierarchyPassword: "owner"}},
	})
	spirehcltest.Refusals(t, Convert, "spire-agent.conf", []struct{ Name, Src, Want string }{
		{"tpm_devid without its key blobs", "agent {\n trust_domain = \"example.org\"\n}\nplugins {\n NodeAttestor \"tpm_devid\" { plugin_data { devid_cert_path = \"/c\" } }\n}\n",
			`plugins.NodeAttestor "tpm_devid".plugin_data.devid_priv_path: is required`},
	})
}
