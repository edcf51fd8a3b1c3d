package spireconf

import (
	"os"
	"testing"

	"github.com/lanyard-dev/lanyard/internal/spirehcl/spirehcltest"
)

// FuzzConvert: any input gives YAML or an error, never a panic, and the YAML is well formed.
func FuzzConvert(f *testing.F) {
	for _, file := range []string{"testdata/agent.conf", "testdata/agent.json"} {
		if src, err := os.ReadFile(file); err == nil {
			f.Add(src)
		}
	}
	for _, s := range []string{
		"agent { trust_domain = \"example.org\"\n server_port = \"8081\" }",
		"plugins { WorkloadAttestor \"k8s\" { plugin_data = { kubelet_secure_port = \"x\" } } }",
		"agent { sds = { default_svid_name = 1 } }",
		"plugins { NodeAttestor \"k8s_psat\" \"x\" {} }",
		"health_checks { listener_enabled = \"yes\" bind_port = 70000 }",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(spirehcltest.Fuzz(Convert))
}
