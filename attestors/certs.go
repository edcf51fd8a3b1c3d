package attestors

import (
	"crypto/sha1" //nolint:gosec // SPIRE names certificates by SHA-1 in agent IDs and selectors.
	"crypto/x509"
	"encoding/hex"
)

// CertFingerprint is the SHA-1 of a certificate's DER in lower-case hex: SPIRE's name for
// a node certificate in x509pop and tpm_devid agent IDs, and for CA certificates in their
// ca:fingerprint selectors. An identifier, not a signature.
func CertFingerprint(c *x509.Certificate) string {
	sum := sha1.Sum(c.Raw) //nolint:gosec // an identifier, as SPIRE defines it
	return hex.EncodeToString(sum[:])
}

// CAFingerprints are the fingerprints of every CA certificate on verified chains (each
// chain's leaf excluded), each once, in chain order: the values of ca:fingerprint
// selectors.
func CAFingerprints(chains [][]*x509.Certificate) []string {
	var fps []string
	seen := map[string]bool{}
	for _, chain := range chains {
		for _, c := range chain[1:] {
			if fp := CertFingerprint(c); !seen[fp] {
				seen[fp] = true
				fps = append(fps, fp)
			}
		}
	}
	return fps
}
