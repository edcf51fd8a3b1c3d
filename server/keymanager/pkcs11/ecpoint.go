package pkcs11

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"encoding/asn1"
	"fmt"
)

// Named curves by OID (RFC 5480), as CKA_EC_PARAMS holds them.
var (
	oidP256 = asn1.ObjectIdentifier{1, 2, 840, 10045, 3, 1, 7}
	oidP384 = asn1.ObjectIdentifier{1, 3, 132, 0, 34}
)

// parseECPoint reads an EC public key object's CKA_EC_PARAMS and CKA_EC_POINT, as the
// module returns them.
func parseECPoint(params, point []byte) (*ecdsa.PublicKey, error) {
	var oid asn1.ObjectIdentifier
	if rest, err := asn1.Unmarshal(params, &oid); err != nil || len(rest) != 0 {
		return nil, fmt.Errorf("reading the EC public key's curve: CKA_EC_PARAMS is not one named curve OID (%v)", err)
	}
	var curve elliptic.Curve
	switch {
	case oid.Equal(oidP256):
		curve = elliptic.P256()
	case oid.Equal(oidP384):
		curve = elliptic.P384()
	default:
		return nil, fmt.Errorf("EC public key on curve %s: only P-256 and P-384 are used", oid)
	}
	// CKA_EC_POINT is the point inside a DER OCTET STRING (PKCS#11 2.40); some modules
	// give it bare.
	var inner []byte
	if rest, err := asn1.Unmarshal(point, &inner); err == nil && len(rest) == 0 {
		point = inner
	}
	pub, err := ecdsa.ParseUncompressedPublicKey(curve, point)
	if err != nil {
		return nil, fmt.Errorf("reading the EC public key: CKA_EC_POINT: %w", err)
	}
	return pub, nil
}
