package tpmdevid

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// Type is the attestation type name, as SPIRE spells it; it is also the type of the
// node selectors the server derives (tpm_devid:subject:cn:..., ...).
const Type = "tpm_devid"

// MaxMessageSize bounds what either side parses: a DevID chain, an EK certificate and
// three TPM public areas are a few KiB.
const MaxMessageSize = 64 << 10

// NonceSize is the length of the DevID proof-of-possession nonce.
const NonceSize = 32

// Payload is the evidence the agent sends first. Field names and encodings (JSON,
// byte strings as base64) are SPIRE's, so either half talks to SPIRE's other half.
type Payload struct {
	// DevIDCert is the DevID certificate (DER) followed by its intermediates.
	DevIDCert [][]byte
	// DevIDPub is the DevID key's TPMT_PUBLIC area.
	DevIDPub []byte
	// EKCert is the endorsement key certificate (DER) read from the TPM's NV index.
	EKCert []byte
	// EKPub is the TPMT_PUBLIC area of the endorsement key, made from the default
	// RSA template.
	EKPub []byte
	// AKPub is the TPMT_PUBLIC area of a fresh attestation key.
	AKPub []byte
	// CertifiedDevID is the TPMS_ATTEST the attestation key signed over the DevID key
	// (TPM2_Certify), and CertificationSignature its TPMT_SIGNATURE.
	CertifiedDevID         []byte
	CertificationSignature []byte
}

// Challenge is the server's reply to the payload.
type Challenge struct {
	// DevID is the nonce the DevID key must sign.
	DevID []byte
	// CredActivation is a secret only the TPM holding both the EK and the AK can
	// recover (TPM2_ActivateCredential).
	CredActivation *CredActivation
}

// CredActivation is TPM2_MakeCredential's output, without the TPM2B size prefixes.
type CredActivation struct {
	Credential []byte
	Secret     []byte
}

// Response answers a Challenge.
type Response struct {
	// DevID is the DevID key's signature over the nonce (PKCS #1 v1.5 for RSA, ASN.1
	// for ECDSA), over SHA-256.
	DevID []byte
	// CredActivation is the secret the TPM recovered.
	CredActivation []byte
}

// ParsePayload decodes and checks the presence of every part of an agent's evidence.
func ParsePayload(b []byte) (*Payload, error) {
	var p Payload
	if err := decode("payload", b, &p); err != nil {
		return nil, err
	}
	switch {
	case len(p.DevIDCert) == 0 || len(p.DevIDCert[0]) == 0:
		return nil, errors.New("payload carries no DevID certificate")
	case len(p.DevIDPub) == 0:
		return nil, errors.New("payload carries no DevID public key")
	case len(p.EKCert) == 0:
		return nil, errors.New("payload carries no endorsement key certificate")
	case len(p.EKPub) == 0:
		return nil, errors.New("payload carries no endorsement public key")
	case len(p.AKPub) == 0:
		return nil, errors.New("payload carries no attestation key")
	case len(p.CertifiedDevID) == 0 || len(p.CertificationSignature) == 0:
		return nil, errors.New("payload carries no DevID certification")
	}
	return &p, nil
}

// ParseChallenge decodes a server's challenge.
func ParseChallenge(b []byte) (*Challenge, error) {
	var c Challenge
	if err := decode("challenge", b, &c); err != nil {
		return nil, err
	}
	if len(c.DevID) == 0 {
		return nil, errors.New("challenge carries no DevID nonce")
	}
	if c.CredActivation == nil || len(c.CredActivation.Credential) == 0 || len(c.CredActivation.Secret) == 0 {
		return nil, errors.New("challenge carries no credential activation")
	}
	return &c, nil
}

// ParseResponse decodes an agent's answer to a challenge.
func ParseResponse(b []byte) (*Response, error) {
	var r Response
	if err := decode("challenge response", b, &r); err != nil {
		return nil, err
	}
	if len(r.DevID) == 0 {
		return nil, errors.New("challenge response carries no DevID signature")
	}
	if len(r.CredActivation) == 0 {
		return nil, errors.New("challenge response carries no credential activation secret")
	}
	return &r, nil
}

func decode(what string, b []byte, v any) error {
	if len(b) > MaxMessageSize {
		return fmt.Errorf("%s is %d bytes, over the %d byte limit", what, len(b), MaxMessageSize)
	}
	d := json.NewDecoder(bytes.NewReader(b))
	if err := d.Decode(v); err != nil {
		return fmt.Errorf("%s is not the JSON SPIRE's tpm_devid sends: %w", what, err)
	}
	if d.More() {
		return fmt.Errorf("%s has data after its JSON object", what)
	}
	return nil
}
