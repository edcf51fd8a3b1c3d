// Package pemcert reads PEM files of certificates (CA bundles, chains) for both binaries.
package pemcert

import (
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"os"
)

// MaxFileSize bounds the files read: far above any real bundle, it keeps a path such as
// /dev/zero from being read forever.
const MaxFileSize = 16 << 20

// ReadFile returns the CERTIFICATE blocks of the PEM file at path, in order; other
// blocks (a key in the same file) are skipped. A file without any certificate, with one
// that does not parse, or over MaxFileSize is an error naming path.
func ReadFile(path string) ([]*x509.Certificate, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(data) > MaxFileSize {
		return nil, fmt.Errorf("%s is over %d MiB: not a PEM certificate file", path, MaxFileSize>>20)
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
