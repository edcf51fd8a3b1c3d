package tpmdevid

import (
	"crypto/sha1" //nolint:gosec // SPIRE's agent IDs and selectors name certificates by SHA-1.
	"crypto/x509"
	"encoding/hex"
	"fmt"

	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/lanyard-dev/lanyard/attestors"
)

// Fingerprint is the SHA-1 of a certificate's DER, in lower-case hex: SPIRE's name for
// a DevID certificate in agent IDs and for CA certificates in selectors.
func Fingerprint(c *x509.Certificate) string {
	sum := sha1.Sum(c.Raw) //nolint:gosec // an identifier, as in SPIRE, not a signature.
	return hex.EncodeToString(sum[:])
}

// AgentID is the ID of the agent whose DevID certificate is devID:
// spiffe://<td>/spire/agent/tpm_devid/<fingerprint>.
func AgentID(td spiffeid.TrustDomain, devID *x509.Certificate) (spiffeid.ID, error) {
	id, err := spiffeid.FromSegments(td, "spire", "agent", Type, Fingerprint(devID))
	if err != nil {
		return spiffeid.ID{}, fmt.Errorf("tpm_devid: agent ID: %w", err)
	}
	return id, nil
}

// Selectors are SPIRE's tpm_devid selectors for a verified DevID certificate: the
// subject and issuer common names, and ca:fingerprint:<sha1> for every CA certificate
// on the verified chains (the leaf excluded), each once.
func Selectors(leaf *x509.Certificate, chains [][]*x509.Certificate) []attestors.Selector {
	var sels []attestors.Selector
	add := func(v string) { sels = append(sels, attestors.Selector{Type: Type, Value: v}) }
	if cn := leaf.Subject.CommonName; cn != "" {
		add("subject:cn:" + cn)
	}
	if cn := leaf.Issuer.CommonName; cn != "" {
		add("issuer:cn:" + cn)
	}
	seen := map[string]bool{}
	for _, chain := range chains {
		for _, c := range chain[1:] {
			fp := Fingerprint(c)
			if !seen[fp] {
				seen[fp] = true
				add("ca:fingerprint:" + fp)
			}
		}
	}
	return sels
}
