package spireconf

import (
	"os"
	"testing"

	"github.com/lanyard-dev/lanyard/internal/spirehcl/spirehcltest"
)

// FuzzConvert: any input gives YAML or an error, never a panic, and the YAML is well
// formed. (The tests above check that lanyard-server's parser takes what it prints.)
func FuzzConvert(f *testing.F) {
	for _, file := range []string{"testdata/server.conf", "testdata/server.json"} {
		if src, err := os.ReadFile(file); err == nil {
			f.Add(src)
		}
	}
	for _, s := range []string{
		"server { trust_domain = \"example.org\" }",
		"server { trust_domain = \"a.org\"\n ca_ttl = \"1h\"\n default_x509_svid_ttl = \"2h\" }",
		"plugins { DataStore \"sql\" { plugin_data = { database_type = \"sqlite3\" } } }",
		"plugins { NodeAttestor \"k8s_psat\" { plugin_data { clusters = { \"c\" = { service_account_allow_list = [1] } } } } }",
		"server { federation { federates_with = { \"b.org\" = { bundle_endpoint_profile \"x\" {} } } } }",
		"server { bind_port = 99999999999999999999999 }",
		"server { a = <<EOF\nx\nEOF\n}",
		"server { \"\\x\" = 1 }",
		"a \"b\" \"c\" \"d\" {}",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(spirehcltest.Fuzz(Convert))
}
