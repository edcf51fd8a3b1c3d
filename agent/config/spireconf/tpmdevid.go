package spireconf

import "github.com/lanyard-dev/lanyard/internal/spirehcl"

// tpmDevID carries SPIRE's tpm_devid plugin_data over under the same names.
func tpmDevID(d *spirehcl.Section, doc *spirehcl.Doc) {
	for _, k := range []string{"devid_cert_path", "devid_priv_path", "devid_pub_path"} {
		if v, ok := d.String(k); ok && v != "" {
			doc.Set(v, "", "tpm_devid", k)
		} else {
			d.Refusef(d.Line(), k, "is required: the DevID file from provisioning")
		}
	}
	for _, k := range []string{"tpm_device_path", "devid_password", "owner_hierarchy_password", "endorsement_hierarchy_password"} {
		if v, ok := d.String(k); ok && v != "" {
			doc.Set(v, "", "tpm_devid", k)
		}
	}
}
