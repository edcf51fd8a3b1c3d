package spireconf

import "github.com/lanyard-dev/lanyard/internal/spirehcl"

// tpmDevID carries SPIRE's tpm_devid plugin_data over: the same two CA files.
func (c *converter) tpmDevID(d *spirehcl.Section) {
	for _, k := range []string{"devid_ca_path", "endorsement_ca_path"} {
		if v, ok := d.String(k); ok && v != "" {
			c.doc.Set(v, "", "node_attestors", "tpm_devid", k)
		} else {
			d.Refusef(d.Line(), k, "is required: the PEM file of the CAs tpm_devid trusts")
		}
	}
}
