package api

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
)

// MaxCSRSize bounds a CSR; real ones are well under 2 KiB.
const MaxCSRSize = 16 << 10

// ParseCSR parses a DER CSR, checks its self-signature and its key type. If the CSR names
// URI SANs, there must be exactly one and it must equal want (when want is not zero).
func ParseCSR(der []byte, want spiffeid.ID) (*x509.CertificateRequest, error) {
	if len(der) == 0 {
		return nil, invalidf("csr is required (DER-encoded PKCS#10)")
	}
	if len(der) > MaxCSRSize {
		return nil, invalidf("csr is %d bytes; at most %d allowed", len(der), MaxCSRSize)
	}
	csr, err := x509.ParseCertificateRequest(der)
	if err != nil {
		return nil, invalidf("csr is not a DER-encoded PKCS#10 request: %v", err)
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, invalidf("csr signature does not verify: %v", err)
	}
	switch k := csr.PublicKey.(type) {
	case *ecdsa.PublicKey:
		if k.Curve != elliptic.P256() && k.Curve != elliptic.P384() {
			return nil, invalidf("csr key: only P-256 and P-384 EC keys are accepted")
		}
	case *rsa.PublicKey:
		if k.N.BitLen() < 2048 {
			return nil, invalidf("csr key: RSA keys must have at least 2048 bits, got %d", k.N.BitLen())
		}
	default:
		return nil, invalidf("csr key: unsupported key type %T (use EC P-256/P-384 or RSA ≥ 2048)", csr.PublicKey)
	}
	if len(csr.URIs) > 1 {
		return nil, invalidf("csr has %d URI SANs; an X.509-SVID has exactly one", len(csr.URIs))
	}
	if len(csr.URIs) == 1 && !want.IsZero() && csr.URIs[0].String() != want.String() {
		return nil, invalidf("csr URI SAN %q does not match the SPIFFE ID %q it asks for", csr.URIs[0], want)
	}
	return csr, nil
}

// CSRID returns the SPIFFE ID a CSR names in its single URI SAN.
func CSRID(csr *x509.CertificateRequest) (spiffeid.ID, error) {
	if len(csr.URIs) != 1 {
		return spiffeid.ID{}, invalidf("csr must name exactly one SPIFFE ID as URI SAN, found %d", len(csr.URIs))
	}
	id, err := spiffeid.FromURI(csr.URIs[0])
	if err != nil {
		return spiffeid.ID{}, invalidf("csr URI SAN %q is not a SPIFFE ID: %v", csr.URIs[0], err)
	}
	return id, nil
}
