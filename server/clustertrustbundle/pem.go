package clustertrustbundle

import (
	"bytes"
	"encoding/pem"

	"github.com/lanyard-dev/lanyard/server/datastore"
)

// pemCertificates is the bundle's X.509 authorities as PEM, each once (the apiserver
// refuses duplicates). Tainted authorities stay: they are still trusted.
func pemCertificates(b *datastore.Bundle) string {
	var buf bytes.Buffer
	seen := map[string]bool{}
	for _, a := range b.X509Authorities {
		if seen[string(a.DER)] {
			continue
		}
		seen[string(a.DER)] = true
		_ = pem.Encode(&buf, &pem.Block{Type: "CERTIFICATE", Bytes: a.DER}) // writing to a bytes.Buffer cannot fail
	}
	return buf.String()
}
