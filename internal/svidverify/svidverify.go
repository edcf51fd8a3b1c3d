// Package svidverify checks a TLS peer's X.509-SVID the way go-spiffe's
// tlsconfig.VerifyPeerCertificate does (the chain verifies against the bundle of the
// SVID's trust domain, then the authorizer accepts its ID), but at an injected clock's
// time, which go-spiffe's tlsconfig cannot take. Both ends of the agent-server connection
// use it, so their tests can move time instead of waiting.
package svidverify

import (
	"crypto/x509"
	"fmt"

	"github.com/spiffe/go-spiffe/v2/bundle/x509bundle"
	"github.com/spiffe/go-spiffe/v2/spiffetls/tlsconfig"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"
	"k8s.io/utils/clock"
)

// PeerCertificate returns a tls.Config.VerifyPeerCertificate func that accepts the peer's
// chain only when it is an X.509-SVID that verifies against bundle at clk's time and whose
// ID authorize accepts. The tls.Config must skip the standard verification
// (InsecureSkipVerify for a client; for a server, ClientAuth below
// RequireAndVerifyClientCert), since SVIDs chain to the SPIFFE bundle, not the system roots.
func PeerCertificate(bundle x509bundle.Source, authorize tlsconfig.Authorizer, clk clock.PassiveClock) func([][]byte, [][]*x509.Certificate) error {
	return func(raw [][]byte, _ [][]*x509.Certificate) error {
		id, chains, err := x509svid.ParseAndVerify(raw, bundle, x509svid.WithTime(clk.Now()))
		if err != nil {
			return fmt.Errorf("peer X.509-SVID does not verify against the trust bundle: %w", err)
		}
		return authorize(id, chains)
	}
}

// Optional is PeerCertificate for a server that lets peers without a certificate in
// (agents attest before they have an SVID): no certificate passes, any other chain must verify.
func Optional(verify func([][]byte, [][]*x509.Certificate) error) func([][]byte, [][]*x509.Certificate) error {
	return func(raw [][]byte, verified [][]*x509.Certificate) error {
		if len(raw) == 0 {
			return nil
		}
		return verify(raw, verified)
	}
}
