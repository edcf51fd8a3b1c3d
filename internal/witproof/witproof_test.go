package witproof

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/spiffe/go-spiffe/v2/exp/svid/witsvid"
)

// wit returns a WIT-SVID bound to a fresh key, with that key, as a workload holds it (the
// issuer's signature does not matter here: the relying party checks it before Verify).
func wit(t *testing.T, sub string) *witsvid.SVID {
	t.Helper()
	issuer, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	signer, _ := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: issuer, KeyID: "k"}}, (&jose.SignerOptions{}).WithType("wit+jwt"))
	tok, err := jwt.Signed(signer).Claims(jwt.Claims{Subject: sub, Expiry: jwt.NewNumericDate(time.Now().Add(time.Hour))}).
		Claims(map[string]any{"cnf": map[string]any{"jwk": jose.JSONWebKey{Key: key.Public(), Algorithm: "ES256"}}}).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	s, err := witsvid.ParseInsecure(tok)
	if err != nil {
		t.Fatal(err)
	}
	s.PrivateKey = key
	return s
}

func TestAProofVerifiesOnlyForItsWITAudienceAndTime(t *testing.T) {
	now := time.Now()
	svid, other := wit(t, "spiffe://example.org/web"), wit(t, "spiffe://example.org/web")
	proof, err := Sign(svid, "https://orders.example", now)
	if err != nil {
		t.Fatal(err)
	}
	if err := Verify(proof, svid, "https://orders.example", now); err != nil {
		t.Fatalf("a fresh proof for its WIT and audience: %v", err)
	}
	for name, check := range map[string]func() error{
		"another audience":   func() error { return Verify(proof, svid, "https://billing.example", now) },
		"another WIT-SVID":   func() error { return Verify(proof, other, "https://orders.example", now) },
		"after its lifetime": func() error { return Verify(proof, svid, "https://orders.example", now.Add(Lifetime+time.Second)) },
		"signed with another key": func() error {
			forged := *svid
			forged.PrivateKey = other.PrivateKey
			p, _ := Sign(&forged, "https://orders.example", now)
			return Verify(p, svid, "https://orders.example", now)
		},
		"the WIT-SVID presented as proof": func() error { return Verify(svid.Marshal(), svid, "https://orders.example", now) },
	} {
		if check() == nil {
			t.Errorf("%s: verified", name)
		}
	}
}
