package pkcs11

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/asn1"
	"testing"
)

// FuzzParseECPoint feeds the EC public key attributes a module returns. An accepted key
// must be a point on the named curve that encodes back to the bytes it came from.
func FuzzParseECPoint(f *testing.F) {
	p256, _ := asn1.Marshal(oidP256)
	p384, _ := asn1.Marshal(oidP384)
	for _, c := range []struct {
		params []byte
		curve  elliptic.Curve
	}{{p256, elliptic.P256()}, {p384, elliptic.P384()}} {
		k, _ := ecdsa.GenerateKey(c.curve, rand.Reader)
		raw, _ := k.PublicKey.Bytes()
		wrapped, _ := asn1.Marshal(raw)
		f.Add(c.params, wrapped)
		f.Add(c.params, raw)
	}
	f.Add([]byte{0x06, 0x03, 0x2b, 0x65, 0x70}, []byte{0x04, 0x00}) // Ed25519's OID
	f.Fuzz(func(t *testing.T, params, point []byte) {
		pub, err := parseECPoint(params, point)
		if err != nil {
			return
		}
		raw, err := pub.Bytes()
		if err != nil {
			t.Fatalf("accepted a key that does not encode: %v", err)
		}
		var inner []byte
		if rest, err := asn1.Unmarshal(point, &inner); err == nil && len(rest) == 0 {
			point = inner
		}
		if string(raw) != string(point) {
			t.Fatalf("accepted %x as the point %x", point, raw)
		}
	})
}
