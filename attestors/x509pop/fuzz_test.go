package x509pop

import (
	"bytes"
	"encoding/json"
	"testing"
)

// FuzzParsePayload feeds the evidence an agent sends. Accepted evidence holds at least
// one certificate, within the limits, and its leaf is the first one sent.
func FuzzParsePayload(f *testing.F) {
	for _, s := range []string{
		`{"certificates":[]}`,
		`{"certificates":["AQ=="]}`,
		`{"certificates":null}`,
		`{"certificates":["!!"]}`,
		`{"certificates":[]} {}`,
		`[]`,
		`null`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		leaf, rest, err := ParsePayload(b)
		if err != nil {
			return
		}
		if leaf == nil || len(b) > MaxPayloadSize || len(rest)+1 > MaxCertificates {
			t.Fatalf("accepted %q", b)
		}
		var p Payload
		if err := json.Unmarshal(b, &p); err != nil || !bytes.Equal(p.Certificates[0], leaf.Raw) {
			t.Fatalf("leaf is not the first certificate sent (%v)", err)
		}
	})
}

// FuzzParseChallenge feeds a challenge from the server to the agent. An accepted
// challenge asks for exactly one signature, over a nonce of NonceSize bytes.
func FuzzParseChallenge(f *testing.F) {
	nonce := `"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="`
	for _, s := range []string{
		`{"ecdsa_signature":{"nonce":` + nonce + `}}`,
		`{"rsa_signature":{"nonce":` + nonce + `}}`,
		`{"rsa_signature":{"nonce":` + nonce + `},"ecdsa_signature":{"nonce":` + nonce + `}}`,
		`{"ecdsa_signature":{"nonce":"AQ=="}}`,
		`{"ecdsa_signature":null,"rsa_signature":null}`,
		`{}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := ParseChallenge(b)
		if err != nil {
			return
		}
		if (c.RSASignature == nil) == (c.ECDSASignature == nil) {
			t.Fatalf("accepted %q asking for %+v", b, c)
		}
		n := c.RSASignature
		if n == nil {
			n = c.ECDSASignature
		}
		if len(n.Nonce) != NonceSize {
			t.Fatalf("accepted a %d-byte nonce", len(n.Nonce))
		}
	})
}

// FuzzParseResponse feeds an agent's answer to the server. An accepted answer carries
// exactly one signature with a nonce of NonceSize bytes; verifying it against a
// challenge never panics.
func FuzzParseResponse(f *testing.F) {
	nonce := `"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="`
	for _, s := range []string{
		`{"ecdsa_signature":{"nonce":` + nonce + `,"r":"AQ==","s":"AQ=="}}`,
		`{"rsa_signature":{"nonce":` + nonce + `,"signature":"AQ=="}}`,
		`{"rsa_signature":{"nonce":` + nonce + `,"signature":"AQ=="},"ecdsa_signature":{"nonce":` + nonce + `}}`,
		`{"ecdsa_signature":{"nonce":"AQ==","r":"","s":""}}`,
		`{"ecdsa_signature":{"nonce":` + nonce + `,"r":null,"s":null}}`,
		`{}`,
		`"x"`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := ParseResponse(b)
		if err != nil {
			return
		}
		if (r.RSASignature == nil) == (r.ECDSASignature == nil) {
			t.Fatalf("accepted %q carrying %+v", b, r)
		}
	})
}
