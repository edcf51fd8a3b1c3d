package spireconf

import "github.com/lanyard-dev/lanyard/internal/spirehcl"

// x509pop converts NodeAttestor "x509pop": its file paths are the x509pop section's.
func x509pop(d *spirehcl.Section, doc *spirehcl.Doc) {
	for _, k := range []string{"certificate_path", "private_key_path"} {
		if v, ok := d.String(k); ok && v != "" {
			doc.Set(v, "", "x509pop", k)
		} else {
			d.Refusef(d.Line(), k, "is required: Lanyard's x509pop reads the node's certificate and key from files")
		}
	}
	if v, ok := d.String("intermediates_path"); ok && v != "" {
		doc.Set(v, "", "x509pop", "intermediates_path")
	}
	d.Refuse("spiffe_endpoint_socket", "Lanyard's x509pop reads the node's certificate from files, not from another Workload API: "+
		"write that SVID to certificate_path and private_key_path, or keep SPIRE for this")
}
