package spireconf

import "github.com/lanyard-dev/lanyard/internal/spirehcl"

// x509pop converts NodeAttestor "x509pop": its plugin_data keys are node_attestors.x509pop's.
func (c *converter) x509pop(d *spirehcl.Section) {
	key := func(k string) []string { return []string{"node_attestors", "x509pop", k} }
	c.doc.Map("", "node_attestors", "x509pop")
	for _, k := range []string{"mode", "ca_bundle_path", "agent_path_template"} {
		if v, ok := d.String(k); ok && v != "" {
			c.doc.Set(v, "", key(k)...)
		}
	}
	if v, ok := d.Strings("ca_bundle_paths"); ok && len(v) > 0 {
		c.doc.Set(v, "", key("ca_bundle_paths")...)
	}
	// SPIRE documents svid_prefix but its plugin reads spiffe_prefix; either converts.
	for _, k := range []string{"svid_prefix", "spiffe_prefix"} {
		if v, ok := d.String(k); ok {
			c.doc.Set(v, "", key("svid_prefix")...)
		}
	}
	for _, k := range []string{"max_intermediates", "max_rsa_key_size"} {
		if v, ok := d.Int(k); ok {
			if v <= 0 {
				d.Refusef(d.LineOf(k), k, "must be greater than 0")
				continue
			}
			c.doc.Set(v, "", key(k)...)
		}
	}
	spirehcl.FalseOnly(d, "verify_client_ip", "Lanyard does not match agents' addresses against their certificates' IP SANs: "+
		"remove it, or keep SPIRE for this")
}
