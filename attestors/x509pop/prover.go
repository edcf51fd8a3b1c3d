package x509pop

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"sync"

	"github.com/lanyard-dev/lanyard/internal/pemcert"
)

// Prover is the agent half. It reads its files at every attestation, so a certificate
// renewed on disk is sent at the next one, and keeps the key it sent the certificate of
// for that attestation's challenge. Use a new Prover per attestation.
type Prover struct {
	// CertificatePath holds the node's certificate (PEM), optionally followed by
	// intermediates. Its key usage must include digitalSignature. Required.
	CertificatePath string
	// PrivateKeyPath holds the certificate's key (PEM: PKCS#1, PKCS#8 or SEC 1; RSA or
	// ECDSA). Required.
	PrivateKeyPath string
	// IntermediatesPath optionally holds more intermediates (PEM), sent after those of
	// CertificatePath.
	IntermediatesPath string

	mu  sync.Mutex
	key crypto.PrivateKey
}

// Type implements attestors.NodeProver.
func (*Prover) Type() string { return Type }

// Payload implements attestors.NodeProver.
func (p *Prover) Payload(context.Context) ([]byte, error) {
	if p.CertificatePath == "" || p.PrivateKeyPath == "" {
		return nil, errors.New("x509pop: certificate_path and private_key_path are required")
	}
	pair, err := tls.LoadX509KeyPair(p.CertificatePath, p.PrivateKeyPath)
	if err != nil {
		return nil, fmt.Errorf("x509pop: loading certificate_path %s and private_key_path %s (PEM certificate and its key): %w",
			p.CertificatePath, p.PrivateKeyPath, err)
	}
	certs := pair.Certificate
	if p.IntermediatesPath != "" {
		more, err := pemcert.ReadFile(p.IntermediatesPath)
		if err != nil {
			return nil, fmt.Errorf("x509pop: intermediates_path: %w", err)
		}
		for _, c := range more {
			certs = append(certs, c.Raw)
		}
	}
	switch pair.PrivateKey.(type) {
	case *rsa.PrivateKey, *ecdsa.PrivateKey:
	default:
		return nil, fmt.Errorf("x509pop: the key in private_key_path %s is %T: x509pop (SPIRE's too) supports RSA and ECDSA keys", p.PrivateKeyPath, pair.PrivateKey)
	}
	if pair.Leaf.KeyUsage&x509.KeyUsageDigitalSignature == 0 {
		return nil, fmt.Errorf("x509pop: the certificate in certificate_path %s lacks the digitalSignature key usage, "+
			"so servers refuse it: reissue it with digitalSignature", p.CertificatePath)
	}
	b, err := json.Marshal(Payload{Certificates: certs})
	if err != nil {
		return nil, fmt.Errorf("x509pop: %w", err)
	}
	if len(b) > MaxPayloadSize || len(certs) > MaxCertificates {
		return nil, fmt.Errorf("x509pop: certificate_path and intermediates_path hold %d certificates, too many to send", len(certs))
	}
	p.mu.Lock()
	p.key = pair.PrivateKey
	p.mu.Unlock()
	return b, nil
}

// RespondChallenge implements attestors.ChallengeResponder: it signs the server's nonce
// with the key of the certificate Payload sent.
func (p *Prover) RespondChallenge(_ context.Context, challenge []byte) ([]byte, error) {
	p.mu.Lock()
	key := p.key
	p.mu.Unlock()
	if key == nil {
		return nil, errors.New("x509pop: challenged before the certificate was sent")
	}
	c, err := ParseChallenge(challenge)
	if err != nil {
		return nil, err
	}
	r, err := Respond(key, c)
	if err != nil {
		return nil, fmt.Errorf("x509pop: %w", err)
	}
	return json.Marshal(r)
}
