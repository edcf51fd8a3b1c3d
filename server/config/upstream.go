package config

import (
	"fmt"
	"os"

	"github.com/lanyard-dev/lanyard/internal/yamlconf"
)

// UpstreamAuthorityConfig makes an operator's CA sign the server's CA certificates
// (SPIRE's "disk" UpstreamAuthority). Absent: the server's CA is self-signed.
type UpstreamAuthorityConfig struct {
	// CertFile is PEM: the signing CA certificate first, then any intermediates.
	CertFile string `yaml:"cert_file"`
	// KeyFile is the signing CA's PEM private key (PKCS#8, EC or PKCS#1).
	KeyFile string `yaml:"key_file"`
	// BundleFile is PEM root certificates, published as the trust bundle; optional when
	// CertFile ends with its root.
	BundleFile string `yaml:"bundle_file"`
}

func (c *Config) validateUpstream() error {
	u := c.UpstreamAuthority
	if u == nil {
		return nil
	}
	for _, f := range []struct{ name, path string }{
		{"upstream_authority.cert_file", u.CertFile}, {"upstream_authority.key_file", u.KeyFile},
	} {
		if f.path == "" {
			return yamlconf.FieldError(f.name, "is required")
		}
		if _, err := os.Stat(f.path); err != nil {
			return yamlconf.FieldError(f.name, fmt.Sprintf("%q: %v", f.path, err))
		}
	}
	if u.BundleFile != "" {
		if _, err := os.Stat(u.BundleFile); err != nil {
			return yamlconf.FieldError("upstream_authority.bundle_file", fmt.Sprintf("%q: %v", u.BundleFile, err))
		}
	}
	return nil
}
