package ca

import (
	"crypto"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"time"
)

type slotStatus string

const (
	prepared slotStatus = "prepared"
	active   slotStatus = "active"
	old      slotStatus = "old"
)

// x509Slot is one CA certificate and its key.
type x509Slot struct {
	KeyID   string     `json:"key_id"`
	CertDER []byte     `json:"cert"`
	Status  slotStatus `json:"status"`
	// UpstreamDER is the chain above CertDER when an upstream CA signed it (sent with
	// every SVID); empty for a self-signed CA.
	UpstreamDER [][]byte `json:"upstream_chain,omitempty"`

	cert   *x509.Certificate
	signer crypto.Signer
}

// jwtSlot is one JWT-SVID or WIT-SVID signing key.
type jwtSlot struct {
	KeyID     string     `json:"key_id"` // in the key manager
	Kid       string     `json:"kid"`    // in JWT headers and the bundle
	PublicKey []byte     `json:"public_key"`
	NotBefore time.Time  `json:"not_before"`
	NotAfter  time.Time  `json:"not_after"`
	Status    slotStatus `json:"status"`

	signer crypto.Signer
}

func (s *x509Slot) notAfter() time.Time { return s.cert.NotAfter }

// journal is what a server persists about its slots (keys stay in the key manager).
type journal struct {
	X509 []*x509Slot `json:"x509"`
	JWT  []*jwtSlot  `json:"jwt"`
	// WIT keys sign WIT-SVIDs; a journal from before WIT-SVIDs has none, and Rotate makes one.
	WIT []*jwtSlot `json:"wit,omitempty"`
}

func decodeJournal(data []byte) (*journal, error) {
	var j journal
	if err := json.Unmarshal(data, &j); err != nil {
		return nil, fmt.Errorf("CA journal is corrupt: %w", err)
	}
	for _, s := range j.X509 {
		c, err := x509.ParseCertificate(s.CertDER)
		if err != nil {
			return nil, fmt.Errorf("CA journal holds an unparsable certificate: %w", err)
		}
		s.cert = c
	}
	return &j, nil
}

func (j *journal) encode() ([]byte, error) { return json.Marshal(j) }
