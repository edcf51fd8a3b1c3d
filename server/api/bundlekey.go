package api

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"fmt"
)

// checkBundleKey refuses keys that a SPIFFE bundle document (a JWKS) cannot carry, such
// as X25519 or P-224 keys that x509 parses: a bundle holding one could be stored but
// never served to partners, agents or workloads.
func checkBundleKey(pub any) error {
	switch k := pub.(type) {
	case *rsa.PublicKey, ed25519.PublicKey:
		return nil
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256(), elliptic.P384(), elliptic.P521():
			return nil
		}
		return fmt.Errorf("EC curve %s cannot be published in a SPIFFE bundle; use P-256, P-384 or P-521", k.Curve.Params().Name)
	}
	return fmt.Errorf("%T keys cannot be published in a SPIFFE bundle; use RSA, EC (P-256, P-384, P-521) or Ed25519", pub)
}
