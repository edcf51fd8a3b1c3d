// Package pemcert reads PEM files of certificates (CA bundles, chains) for both binaries.
package pemcert

import (
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
)

// ReadFile returns the CERTIFICATE blocks of the PEM file at path, in order; other
// blocks (a key in the same file) are skipped. A file without any certificate, or with
// one that does not parse, is an error naming path.
func ReadFile(path string) ([]*x509.Certificate, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out []*x509.Certificate
	for n := 1; ; n++ {
		var b *pem.Block
		if b, data = pem.Decode(data); b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%s: PEM block %d: %w", path, n, err)
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s holds no PEM CERTIFICATE", path)
	}
	return out, nil
}
