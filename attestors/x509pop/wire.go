package x509pop

import (
	"bytes" //nolint:gosec // SPIRE's agent IDs and ca:fingerprint selectors are SHA-1 fingerprints
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
)

// Type is the attestation type name, as SPIRE spells it; it is also the type of the
// node selectors the server derives (x509pop:subject:cn:node1, ...).
const Type = "x509pop"

// NonceSize is the length of both nonces of a challenge, in bytes (SPIRE's length).
const NonceSize = 32

// MaxPayloadSize bounds the evidence and challenge answers either side parses.
const MaxPayloadSize = 64 << 10

// MaxCertificates bounds the chain an agent may send, leaf included, whatever the
// server's max_intermediates says: each one is parsed before the chain is checked.
const MaxCertificates = 64

// Payload is the evidence: DER certificates, the node's leaf first, then intermediates.
// JSON {"certificates": [base64, ...]} as SPIRE's x509pop encodes it.
type Payload struct {
	Certificates [][]byte `json:"certificates"`
}

// Nonce is a challenge's half from the server: {"nonce": base64}.
type Nonce struct {
	Nonce []byte `json:"nonce"`
}

// Challenge is what the server sends: exactly one member is set, by the leaf's key type.
type Challenge struct {
	RSASignature   *Nonce `json:"rsa_signature"`
	ECDSASignature *Nonce `json:"ecdsa_signature"`
}

// RSAAnswer signs SHA-256(server nonce || agent nonce) with RSA-PSS.
type RSAAnswer struct {
	Nonce     []byte `json:"nonce"`
	Signature []byte `json:"signature"`
}

// ECDSAAnswer signs SHA-256(server nonce || agent nonce) with ECDSA, as r and s
// (unsigned big-endian).
type ECDSAAnswer struct {
	Nonce []byte `json:"nonce"`
	R     []byte `json:"r"`
	S     []byte `json:"s"`
}

// Response is the agent's answer to a Challenge, with the member of the same name set.
type Response struct {
	RSASignature   *RSAAnswer   `json:"rsa_signature"`
	ECDSASignature *ECDSAAnswer `json:"ecdsa_signature"`
}

// ParsePayload decodes evidence from an agent into the leaf and the certificates sent
// after it. It checks the encoding only; the verifier decides whether to trust them.
func ParsePayload(b []byte) (leaf *x509.Certificate, rest []*x509.Certificate, err error) {
	var p Payload
	if err := decodeJSON(b, &p); err != nil {
		return nil, nil, fmt.Errorf("x509pop payload is not JSON {\"certificates\": [...]}: %w", err)
	}
	switch {
	case len(p.Certificates) == 0:
		return nil, nil, errors.New("x509pop payload carries no certificate: set the agent's x509pop certificate_path")
	case len(p.Certificates) > MaxCertificates:
		return nil, nil, fmt.Errorf("x509pop payload carries %d certificates, over the limit of %d", len(p.Certificates), MaxCertificates)
	}
	certs := make([]*x509.Certificate, len(p.Certificates))
	for i, der := range p.Certificates {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return nil, nil, fmt.Errorf("x509pop payload: certificate %d is not a DER certificate: %w", i, err)
		}
		certs[i] = c
	}
	return certs[0], certs[1:], nil
}

// ParseChallenge decodes a challenge from the server.
func ParseChallenge(b []byte) (*Challenge, error) {
	var c Challenge
	if err := decodeJSON(b, &c); err != nil {
		return nil, fmt.Errorf("x509pop challenge is not JSON: %w", err)
	}
	var n *Nonce
	switch {
	case c.RSASignature != nil && c.ECDSASignature != nil:
		return nil, errors.New("x509pop challenge asks for both an RSA and an ECDSA signature")
	case c.RSASignature != nil:
		n = c.RSASignature
	case c.ECDSASignature != nil:
		n = c.ECDSASignature
	default:
		return nil, errors.New("x509pop challenge asks for no signature")
	}
	if len(n.Nonce) != NonceSize {
		return nil, fmt.Errorf("x509pop challenge nonce is %d bytes, want %d", len(n.Nonce), NonceSize)
	}
	return &c, nil
}

// ParseResponse decodes an agent's answer to a challenge. The answer's nonce must be
// NonceSize bytes and ECDSA's r and s at most 66 bytes (P-521), so nothing larger reaches
// the signature check.
func ParseResponse(b []byte) (*Response, error) {
	var r Response
	if err := decodeJSON(b, &r); err != nil {
		return nil, fmt.Errorf("x509pop challenge response is not JSON: %w", err)
	}
	var nonce []byte
	switch {
	case r.RSASignature != nil && r.ECDSASignature != nil:
		return nil, errors.New("x509pop challenge response carries both an RSA and an ECDSA signature")
	case r.RSASignature != nil:
		nonce = r.RSASignature.Nonce
	case r.ECDSASignature != nil:
		nonce = r.ECDSASignature.Nonce
		if len(r.ECDSASignature.R) > 66 || len(r.ECDSASignature.S) > 66 {
			return nil, errors.New("x509pop challenge response: ECDSA r or s is longer than any supported curve's")
		}
	default:
		return nil, errors.New("x509pop challenge response carries no signature")
	}
	if len(nonce) != NonceSize {
		return nil, fmt.Errorf("x509pop challenge response nonce is %d bytes, want %d", len(nonce), NonceSize)
	}
	return &r, nil
}

// decodeJSON decodes one JSON value of at most MaxPayloadSize bytes; anything after it
// is an error.
func decodeJSON(b []byte, v any) error {
	if len(b) > MaxPayloadSize {
		return fmt.Errorf("%d bytes, over the %d byte limit", len(b), MaxPayloadSize)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(v); err != nil {
		return err
	}
	if err := dec.Decode(&json.RawMessage{}); err != io.EOF {
		return errors.New("data after the JSON value")
	}
	return nil
}

// SerialNumberHex is the serial number in lowercase hex of even length (as openssl
// prints it, without colons): the serialnumber selector's value.
func SerialNumberHex(n *big.Int) string {
	s := n.Text(16)
	if len(s)%2 == 1 {
		s = "0" + s
	}
	return s
}
