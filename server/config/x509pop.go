package config

import (
	"fmt"

	"github.com/lanyard-dev/lanyard/attestors/x509pop/verifier"
	"github.com/lanyard-dev/lanyard/internal/pemcert"
	"github.com/lanyard-dev/lanyard/internal/yamlconf"
)

// X509PoP configures the x509pop verifier (SPIRE's plugin_data names): agents prove
// they hold the key of a node certificate issued by the operator's CAs.
type X509PoP struct {
	// Mode is external_pki (default: ca_bundle_path's CAs) or spiffe (the server's own
	// bundle: agents exchange X.509-SVIDs under svid_prefix for agent SVIDs).
	Mode string `yaml:"mode"`
	// CABundlePath / CABundlePaths are PEM files of the CAs node certificates chain to;
	// external_pki needs exactly one of the two keys. Read at start.
	CABundlePath  string   `yaml:"ca_bundle_path"`
	CABundlePaths []string `yaml:"ca_bundle_paths"`
	// SVIDPrefix (spiffe mode) is the path prefix of exchangeable SVIDs. Default
	// /spire-exchange/; "" accepts any.
	SVIDPrefix *string `yaml:"svid_prefix"`
	// AgentPathTemplate renders the agent ID's path after /spire/agent (Go text/template
	// over the certificate). Default /{{ .PluginName }}/{{ .Fingerprint }} (spiffe mode:
	// /{{ .PluginName }}/{{ .SVIDPathTrimmed }}).
	AgentPathTemplate string `yaml:"agent_path_template"`
	// MaxIntermediates and MaxRSAKeySize bound what agents send. Default 4 and 8192.
	MaxIntermediates int `yaml:"max_intermediates"`
	MaxRSAKeySize    int `yaml:"max_rsa_key_size"`
}

// BundlePaths returns the CA bundle files, from whichever key was set.
func (x *X509PoP) BundlePaths() []string {
	if x.CABundlePath != "" {
		return []string{x.CABundlePath}
	}
	return x.CABundlePaths
}

func (x *X509PoP) validate() error {
	const f = "node_attestors.x509pop."
	switch x.Mode {
	case "", verifier.ModeExternalPKI:
		switch {
		case x.CABundlePath != "" && len(x.CABundlePaths) > 0:
			return yamlconf.FieldError(f+"ca_bundle_paths", "cannot be combined with ca_bundle_path: keep one")
		case len(x.BundlePaths()) == 0:
			return yamlconf.FieldError(f+"ca_bundle_path", "is required in external_pki mode: the PEM file of the CAs that issue node certificates")
		}
		for _, p := range x.CABundlePaths {
			if p == "" {
				return yamlconf.FieldError(f+"ca_bundle_paths", "holds an empty path")
			}
		}
	case verifier.ModeSPIFFE:
		if len(x.BundlePaths()) > 0 {
			return yamlconf.FieldError(f+"ca_bundle_path", "cannot be used in spiffe mode, which trusts the server's own bundle: remove it or use mode: external_pki")
		}
	default:
		return yamlconf.FieldError(f+"mode", fmt.Sprintf("%q: use external_pki or spiffe", x.Mode))
	}
	if x.AgentPathTemplate != "" {
		if _, err := verifier.ParsePathTemplate(x.AgentPathTemplate); err != nil {
			return yamlconf.FieldError(f+"agent_path_template", fmt.Sprintf("does not parse: %v", err))
		}
	}
	if x.MaxIntermediates < 0 {
		return yamlconf.FieldError(f+"max_intermediates", "must be positive")
	}
	if x.MaxRSAKeySize < 0 {
		return yamlconf.FieldError(f+"max_rsa_key_size", "must be positive")
	}
	// Read now, so that validate finds a missing or damaged bundle, not the first agent.
	field := f + "ca_bundle_path"
	if len(x.CABundlePaths) > 0 {
		field += "s"
	}
	for _, p := range x.BundlePaths() {
		if _, err := pemcert.ReadFile(p); err != nil {
			return yamlconf.FieldError(field, fmt.Sprintf("cannot be used: %v", err))
		}
	}
	return nil
}
