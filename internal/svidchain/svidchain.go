// Package svidchain describes an SVID chain the way SPIRE's debug APIs (server and agent
// GetInfo) report it: each certificate's SPIFFE ID, expiry and subject.
package svidchain

import (
	"crypto/x509"

	"github.com/spiffe/go-spiffe/v2/svid/x509svid"
	"github.com/spiffe/spire-api-sdk/proto/spire/api/types"
)

// Cert is one certificate of the chain. ID is nil for a CA certificate without a SPIFFE
// ID; all fields are zero for a certificate that does not parse.
type Cert struct {
	ID        *types.SPIFFEID
	ExpiresAt int64 // seconds since the Unix epoch
	Subject   string
}

// Describe describes each DER certificate of chain, leaf first.
func Describe(chain [][]byte) []Cert {
	out := make([]Cert, 0, len(chain))
	for _, der := range chain {
		out = append(out, describe(der))
	}
	return out
}

func describe(der []byte) Cert {
	c, err := x509.ParseCertificate(der)
	if err != nil {
		return Cert{}
	}
	out := Cert{ExpiresAt: c.NotAfter.Unix(), Subject: c.Subject.String()}
	if id, err := x509svid.IDFromCert(c); err == nil {
		out.ID = &types.SPIFFEID{TrustDomain: id.TrustDomain().Name(), Path: id.Path()}
	}
	return out
}
