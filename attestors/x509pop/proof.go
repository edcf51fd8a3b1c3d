package x509pop

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"fmt"
	"math/big"
)

// ErrBadSignature is returned by Verify when the answer was not signed by the
// certificate's key over this challenge's nonce.
var ErrBadSignature = errors.New("the challenge signature does not verify with the certificate's public key " +
	"(the agent holds another key, or answered another challenge)")

// NewChallenge makes a challenge with a fresh nonce from crypto/rand for the leaf's key
// type. The leaf must allow digitalSignature: a key meant only for key agreement or
// certificate signing is not the node's proof of identity.
func NewChallenge(leaf *x509.Certificate) (*Challenge, error) {
	if leaf.KeyUsage&x509.KeyUsageDigitalSignature == 0 {
		return nil, errors.New("the node certificate's key usage lacks digitalSignature: issue it with digitalSignature")
	}
	nonce, err := newNonce()
	if err != nil {
		return nil, err
	}
	switch pub := leaf.PublicKey.(type) {
	case *rsa.PublicKey:
		return &Challenge{RSASignature: &Nonce{Nonce: nonce}}, nil
	case *ecdsa.PublicKey:
		return &Challenge{ECDSASignature: &Nonce{Nonce: nonce}}, nil
	default:
		return nil, fmt.Errorf("the node certificate's key is %T: x509pop supports RSA and ECDSA keys", pub)
	}
}

// Respond signs the challenge with key, adding the agent's own nonce. The challenge
// must ask for the signature of key's type.
func Respond(key crypto.PrivateKey, c *Challenge) (*Response, error) {
	nonce, err := newNonce()
	if err != nil {
		return nil, err
	}
	switch key := key.(type) {
	case *rsa.PrivateKey:
		if c.RSASignature == nil {
			return nil, errors.New("the server asked for an ECDSA signature, but the node's key is RSA: does the server see another certificate?")
		}
		digest, err := digest(c.RSASignature.Nonce, nonce)
		if err != nil {
			return nil, err
		}
		sig, err := rsa.SignPSS(rand.Reader, key, crypto.SHA256, digest, nil)
		if err != nil {
			return nil, fmt.Errorf("signing the challenge: %w", err)
		}
		return &Response{RSASignature: &RSAAnswer{Nonce: nonce, Signature: sig}}, nil
	case *ecdsa.PrivateKey:
		if c.ECDSASignature == nil {
			return nil, errors.New("the server asked for an RSA signature, but the node's key is ECDSA: does the server see another certificate?")
		}
		digest, err := digest(c.ECDSASignature.Nonce, nonce)
		if err != nil {
			return nil, err
		}
		r, s, err := ecdsa.Sign(rand.Reader, key, digest)
		if err != nil {
			return nil, fmt.Errorf("signing the challenge: %w", err)
		}
		return &Response{ECDSASignature: &ECDSAAnswer{Nonce: nonce, R: r.Bytes(), S: s.Bytes()}}, nil
	default:
		return nil, fmt.Errorf("the node's private key is %T: x509pop supports RSA and ECDSA keys", key)
	}
}

// Verify checks that r answers c with the private key of pub. It returns ErrBadSignature
// when the signature does not verify.
func Verify(pub crypto.PublicKey, c *Challenge, r *Response) error {
	switch pub := pub.(type) {
	case *rsa.PublicKey:
		if c.RSASignature == nil || r.RSASignature == nil {
			return errors.New("the challenge response is not an RSA signature, but the node certificate's key is RSA")
		}
		digest, err := digest(c.RSASignature.Nonce, r.RSASignature.Nonce)
		if err != nil {
			return err
		}
		if rsa.VerifyPSS(pub, crypto.SHA256, digest, r.RSASignature.Signature, nil) != nil {
			return ErrBadSignature
		}
		return nil
	case *ecdsa.PublicKey:
		if c.ECDSASignature == nil || r.ECDSASignature == nil {
			return errors.New("the challenge response is not an ECDSA signature, but the node certificate's key is ECDSA")
		}
		digest, err := digest(c.ECDSASignature.Nonce, r.ECDSASignature.Nonce)
		if err != nil {
			return err
		}
		rr, s := new(big.Int).SetBytes(r.ECDSASignature.R), new(big.Int).SetBytes(r.ECDSASignature.S)
		if !ecdsa.Verify(pub, digest, rr, s) {
			return ErrBadSignature
		}
		return nil
	default:
		return fmt.Errorf("the node certificate's key is %T: x509pop supports RSA and ECDSA keys", pub)
	}
}

// digest is what both sides sign: SHA-256 over the server's nonce, then the agent's.
func digest(server, agent []byte) ([]byte, error) {
	if len(server) != NonceSize || len(agent) != NonceSize {
		return nil, fmt.Errorf("x509pop nonces must be %d bytes (got %d and %d)", NonceSize, len(server), len(agent))
	}
	h := sha256.New()
	h.Write(server)
	h.Write(agent)
	return h.Sum(nil), nil
}

func newNonce() ([]byte, error) {
	b := make([]byte, NonceSize)
	if _, err := rand.Read(b); err != nil {
		return nil, fmt.Errorf("reading a nonce from crypto/rand: %w", err)
	}
	return b, nil
}
