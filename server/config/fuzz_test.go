package config

import (
	"net"
	"reflect"
	"strconv"
	"testing"
	"time"

	"github.com/lanyard-dev/lanyard/internal/yamlconf"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"gopkg.in/yaml.v3"
)

// FuzzParse feeds server configuration files. An accepted configuration must keep the
// promises the server's start relies on, and validating it again must change nothing.
func FuzzParse(f *testing.F) {
	for _, doc := range []string{
		"trust_domain: example.org\n",
		"trust_domain: example.org\ndata_dir: /var/lib/lanyard/server\nbind_address: 0.0.0.0\nbind_port: 8081\n" +
			"ca_key_type: rsa-2048\njwt_key_type: ec-p384\nca_ttl: 48h\ndefault_x509_svid_ttl: 1h\ndefault_jwt_svid_ttl: 300\nlog_format: json\n",
		"trust_domain: example.org\nfederation:\n  bundle_endpoint:\n    address: 0.0.0.0\n    port: 8443\n    refresh_hint: 1m\n" +
			"  federates_with:\n    partner.org:\n      bundle_endpoint_url: https://partner.org:8443/\n      profile: https_spiffe\n" +
			"      endpoint_spiffe_id: spiffe://partner.org/spire/server\n",
		"trust_domain: example.org\nfederation:\n  federates_with:\n    spiffe://partner.org:\n      bundle_endpoint_url: https://partner.org/\n      profile: https_web\n",
		"trust_domain: example.org\noidc:\n  address: 127.0.0.1:0\n  issuer: http://127.0.0.1:8444\n",
		"trust_domain: example.org\nhealth_address: \"\"\noidc:\n  address: \"\"\n",
		"trust_domain: example.org\nnode_attestors:\n  k8s_psat:\n    clusters:\n      prod:\n        service_account_allow_list: [\"spire:spire-agent\"]\n        audience: []\n",
		"trust_domain: example.org\ndatastore:\n  type: postgres\n  connection_string: postgres://lanyard@db/lanyard\n  max_open_conns: 5\n",
		"trust_domain: example.org\nca_ttl: 18446744074\n",
		"trust_domain: example.org\nkey_manager: pkcs11\npkcs11:\n  module_path: /usr/lib/softhsm/libsofthsm2.so\n  token_label: lanyard\n  pin_file: /etc/lanyard/pin\n",
		"trust_domain: example.org\nkey_manager: pkcs11\npkcs11:\n  module_path: /opt/hsm/lib.so\n  slot: 3\n  pin_env: HSM_PIN\n  key_label_prefix: prod/\n",
		"trust_domain: example.org\n---\ntrust_domain: evil.org\n",
	} {
		f.Add([]byte(doc))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := Parse(data)
		if err != nil {
			return
		}
		if td, err := spiffeid.TrustDomainFromString(cfg.TrustDomain); err != nil || td != cfg.TD() {
			t.Fatalf("accepted trust_domain %q: %v", cfg.TrustDomain, err)
		}
		if cfg.CATTL.D() < time.Minute {
			t.Fatalf("accepted ca_ttl %s", cfg.CATTL.D())
		}
		for _, d := range []yamlconf.Duration{cfg.DefaultX509SVIDTTL, cfg.DefaultJWTSVIDTTL, cfg.AgentTTL} {
			if d.D() < 10*time.Second || d.D() > cfg.CATTL.D() {
				t.Fatalf("accepted an SVID TTL of %s with ca_ttl %s", d.D(), cfg.CATTL.D())
			}
		}
		for name, addr := range map[string]string{"health": cfg.HealthAddr(), "oidc": cfg.OIDCAddr(), "bundle endpoint": cfg.BundleEndpointAddr()} {
			if addr == "" {
				continue
			}
			if _, port, err := net.SplitHostPort(addr); err != nil {
				t.Fatalf("accepted %s address %q: %v", name, addr, err)
			} else if _, err := strconv.ParseUint(port, 10, 16); err != nil {
				t.Fatalf("accepted %s address %q: port is not a number", name, addr)
			}
		}
		if p := cfg.PKCS11; cfg.KeyManager == "pkcs11" {
			if p == nil || p.ModulePath == "" || (p.TokenLabel == "") == (p.Slot == nil) || (p.PINFile == "") == (p.PINEnv == "") || p.KeyLabelPrefix == "" {
				t.Fatalf("accepted a pkcs11 section that does not name one module, one token and one PIN source: %+v", p)
			}
		} else if p != nil {
			t.Fatalf("accepted a pkcs11 section with key_manager %q", cfg.KeyManager)
		}
		seeds, err := cfg.FederationSeeds()
		if err == nil {
			for _, s := range seeds {
				// The API stores relationships under the plain name; so must the config,
				// or the relationship and the bundles it fetches are stored under two names.
				name := s.Relationship.TrustDomain
				if td, err := spiffeid.TrustDomainFromString(name); err != nil || td.Name() != name {
					t.Fatalf("accepted federates_with trust domain %q, stored not as its name (%v)", name, err)
				}
			}
		}
		again := cfg
		if err := again.Validate(); err != nil {
			t.Fatalf("an accepted configuration fails validation the second time: %v", err)
		}
		if !reflect.DeepEqual(again, cfg) {
			t.Fatalf("validating an accepted configuration again changes it:\n first %+v\nsecond %+v", cfg, again)
		}
	})
}

// FuzzDuration feeds duration values ("90s", "1h30m", or whole seconds). An accepted
// value must mean what was written: a number of seconds is that many seconds.
func FuzzDuration(f *testing.F) {
	for _, s := range []string{"30s", "1h30m", "300", "-5s", "0", "9223372036", "9223372037", "18446744074", "1e3", "forever"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var d yamlconf.Duration
		if err := d.UnmarshalYAML(&yaml.Node{Kind: yaml.ScalarNode, Value: s, Line: 1}); err != nil {
			return
		}
		if _, err := time.ParseDuration(s); err == nil {
			return
		}
		secs, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			t.Fatalf("accepted %q, which is neither a duration nor whole seconds, as %s", s, d.D())
		}
		if int64(d.D()/time.Second) != secs || d.D()%time.Second != 0 {
			t.Fatalf("%q seconds read as %s", s, d.D())
		}
	})
}
