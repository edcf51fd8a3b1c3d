package verifier

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"
	"time"

	"github.com/google/go-tpm/legacy/tpm2"
	"github.com/google/go-tpm/legacy/tpm2/credactivation"

	"github.com/lanyard-dev/lanyard/attestors/tpmdevid"
)

// residency is what the payload proved so far: an EK from a trusted manufacturer and
// an attestation key that certified the DevID key. The credential challenge proves the
// attestation key sits in that EK's TPM.
type residency struct {
	ekKey *rsa.PublicKey
	ekPub tpm2.Public
	akPub tpm2.Public
}

// TPM object attributes the checks rely on.
const (
	inTPM   = tpm2.FlagFixedTPM | tpm2.FlagFixedParent
	akAttrs = inTPM | tpm2.FlagRestricted | tpm2.FlagSign
)

func checkResidency(p *tpmdevid.Payload, devID *x509.Certificate, ekRoots *x509.CertPool, now time.Time) (*residency, error) {
	ekCert, err := x509.ParseCertificate(p.EKCert)
	if err != nil {
		return nil, fmt.Errorf("EK certificate: %w", err)
	}
	ekPub, err := tpm2.DecodePublic(p.EKPub)
	if err != nil {
		return nil, fmt.Errorf("EK public area: %w", err)
	}
	ekKey, err := ekPub.Key()
	if err != nil {
		return nil, fmt.Errorf("EK public area: %w", err)
	}
	rsaEK, ok := ekKey.(*rsa.PublicKey)
	if !ok || ekPub.RSAParameters == nil || ekPub.RSAParameters.Symmetric == nil {
		return nil, errors.New("the EK is not an RSA storage key (only the TCG default RSA EK is supported)")
	}
	if !rsaEK.Equal(ekCert.PublicKey) {
		return nil, errors.New("the EK certificate certifies another key than the TPM's endorsement key")
	}
	if err := verifyEKCert(ekCert, ekRoots, now); err != nil {
		return nil, err
	}

	devIDPub, err := tpm2.DecodePublic(p.DevIDPub)
	if err != nil {
		return nil, fmt.Errorf("DevID public area: %w", err)
	}
	if devIDPub.Attributes&(inTPM|tpm2.FlagSign) != inTPM|tpm2.FlagSign || devIDPub.Attributes&tpm2.FlagDecrypt != 0 {
		return nil, fmt.Errorf("the DevID key's attributes (%#x) are not fixedTPM|fixedParent|sign without decrypt: provision the DevID as a TPM-bound signing-only key", uint32(devIDPub.Attributes))
	}
	devIDKey, err := devIDPub.Key()
	if err != nil {
		return nil, fmt.Errorf("DevID public area: %w", err)
	}
	if k, ok := devIDKey.(interface{ Equal(crypto.PublicKey) bool }); !ok || !k.Equal(devID.PublicKey) {
		return nil, errors.New("the DevID certificate certifies another key than the TPM's DevID key")
	}

	akPub, err := tpm2.DecodePublic(p.AKPub)
	if err != nil {
		return nil, fmt.Errorf("attestation key public area: %w", err)
	}
	if akPub.Attributes&akAttrs != akAttrs {
		return nil, fmt.Errorf("the attestation key's attributes (%#x) are not fixedTPM|fixedParent|restricted|sign", uint32(akPub.Attributes))
	}
	if err := checkCertification(akPub, devIDPub, p.CertifiedDevID, p.CertificationSignature); err != nil {
		return nil, err
	}
	return &residency{ekKey: rsaEK, ekPub: ekPub, akPub: akPub}, nil
}

// verifyEKCert verifies the EK certificate against the manufacturers' CAs. EK
// certificates mark their subjectAltName (the TPM's model) critical in a form crypto/x509
// does not parse; it carries nothing the check relies on.
func verifyEKCert(c *x509.Certificate, roots *x509.CertPool, now time.Time) error {
	san := asn1.ObjectIdentifier{2, 5, 29, 17}
	var rest []asn1.ObjectIdentifier
	for _, oid := range c.UnhandledCriticalExtensions {
		if !oid.Equal(san) {
			rest = append(rest, oid)
		}
	}
	c.UnhandledCriticalExtensions = rest
	_, err := c.Verify(x509.VerifyOptions{Roots: roots, CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
	if err != nil {
		return explainVerify("EK certificate", c, "endorsement_ca_path", err)
	}
	return nil
}

// checkCertification checks that the attestation key signed a TPM2_Certify of the DevID key.
func checkCertification(akPub, devIDPub tpm2.Public, attest, sigBlob []byte) error {
	akKey, err := akPub.Key()
	if err != nil {
		return fmt.Errorf("attestation key: %w", err)
	}
	sig, err := tpm2.DecodeSignature(bytes.NewBuffer(sigBlob))
	if err != nil {
		return fmt.Errorf("DevID certification signature: %w", err)
	}
	var hashAlg tpm2.Algorithm
	switch {
	case sig.RSA != nil:
		hashAlg = sig.RSA.HashAlg
	case sig.ECC != nil:
		hashAlg = sig.ECC.HashAlg
	default:
		return errors.New("DevID certification signature is neither RSA nor ECDSA")
	}
	h, err := hashAlg.Hash()
	if err != nil {
		return fmt.Errorf("DevID certification signature: %w", err)
	}
	digest := h.New()
	digest.Write(attest)
	sum := digest.Sum(nil)
	switch k := akKey.(type) {
	case *rsa.PublicKey:
		if sig.RSA == nil || rsa.VerifyPKCS1v15(k, h, sum, sig.RSA.Signature) != nil {
			return errors.New("the DevID certification is not signed by the attestation key")
		}
	case *ecdsa.PublicKey:
		if sig.ECC == nil || !ecdsa.Verify(k, sum, sig.ECC.R, sig.ECC.S) {
			return errors.New("the DevID certification is not signed by the attestation key")
		}
	default:
		return fmt.Errorf("attestation key type %T is not supported", akKey)
	}
	data, err := tpm2.DecodeAttestationData(attest)
	if err != nil {
		return fmt.Errorf("DevID certification: %w", err)
	}
	if data.Type != tpm2.TagAttestCertify || data.AttestedCertifyInfo == nil {
		return errors.New("the DevID certification is not a TPM2_Certify result")
	}
	ok, err := data.AttestedCertifyInfo.Name.MatchesPublic(devIDPub)
	if err != nil || !ok {
		return errors.New("the attestation key certified another key than the DevID key")
	}
	return nil
}

// credentialChallenge makes a secret that only the TPM holding both the EK and the
// attestation key can recover (TPM2_MakeCredential, done in software).
func (r *residency) credentialChallenge() (*tpmdevid.CredActivation, []byte, error) {
	name, err := r.akPub.Name()
	if err != nil || name.Digest == nil {
		return nil, nil, fmt.Errorf("attestation key name: %v", err)
	}
	h, err := r.ekPub.NameAlg.Hash()
	if err != nil {
		return nil, nil, err
	}
	secret := make([]byte, h.Size())
	if _, err := rand.Read(secret); err != nil {
		return nil, nil, err
	}
	cred, enc, err := credactivation.Generate(name.Digest, r.ekKey, int(r.ekPub.RSAParameters.Symmetric.KeyBits)/8, secret)
	if err != nil {
		return nil, nil, err
	}
	// Generate returns TPM2B structures; the wire carries their contents.
	return &tpmdevid.CredActivation{Credential: cred[2:], Secret: enc[2:]}, secret, nil
}

// checkDevIDSignature checks the DevID key's signature over the nonce.
func checkDevIDSignature(devID *x509.Certificate, nonce, sig []byte) error {
	var alg x509.SignatureAlgorithm
	switch devID.PublicKey.(type) {
	case *rsa.PublicKey:
		alg = x509.SHA256WithRSA
	case *ecdsa.PublicKey:
		alg = x509.ECDSAWithSHA256
	default:
		return fmt.Errorf("DevID key type %T is not supported", devID.PublicKey)
	}
	if err := devID.CheckSignature(alg, nonce, sig); err != nil {
		return errors.New("the DevID signature does not verify over this attestation's nonce: a replayed answer, or the DevID key is not the certificate's")
	}
	return nil
}
