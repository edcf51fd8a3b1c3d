package tpmdevid

import (
	"crypto/x509"
	"fmt"

	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/lanyard-dev/lanyard/attestors"
)

// AgentID is the ID of the agent whose DevID certificate is devID:
// spiffe://<td>/spire/agent/tpm_devid/<fingerprint>.
func AgentID(td spiffeid.TrustDomain, devID *x509.Certificate) (spiffeid.ID, error) {
	id, err := spiffeid.FromSegments(td, "spire", "agent", Type, attestors.CertFingerprint(devID))
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
	for _, fp := range attestors.CAFingerprints(chains) {
		add("ca:fingerprint:" + fp)
	}
	return sels
}
