package manager

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/spiffe/spire-api-sdk/proto/spire/api/types"

	"github.com/lanyard-dev/lanyard/agent/cache"
)

// FuzzToWITSVID: whatever token a server returns, the agent's check neither panics nor
// serves a token that does not bind the key the agent sent, for the entry's ID.
func FuzzToWITSVID(f *testing.F) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	e := &cache.Entry{ID: "e", SPIFFEID: "spiffe://example.org/web", RevisionNumber: 3}
	sign := func(typ string, claims map[string]any) string {
		s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: other, KeyID: "k"}}, (&jose.SignerOptions{}).WithType(jose.ContentType(typ)))
		if err != nil {
			f.Fatal(err)
		}
		tok, err := jwt.Signed(s).Claims(claims).Serialize()
		if err != nil {
			f.Fatal(err)
		}
		return tok
	}
	exp := time.Now().Add(time.Hour).Unix()
	good := map[string]any{"sub": e.SPIFFEID, "exp": exp, "cnf": map[string]any{"jwk": jose.JSONWebKey{Key: key.Public(), Algorithm: "ES256"}}}
	f.Add(sign("wit+jwt", good))
	f.Add(sign("JWT", good))
	f.Add(sign("wit+jwt", map[string]any{"sub": e.SPIFFEID, "exp": exp, "aud": "x", "cnf": good["cnf"]}))
	f.Add(sign("wit+jwt", map[string]any{"sub": e.SPIFFEID, "exp": exp, "cnf": map[string]any{"jwk": "not a key"}}))
	f.Add("a.b.c")
	f.Fuzz(func(t *testing.T, token string) {
		s, err := toWITSVID(e, &types.WITSVID{Token: token}, key, time.Now())
		if err != nil {
			return
		}
		if s.ID.String() != e.SPIFFEID || s.Token != token || s.Revision != 3 || s.Kid == "" {
			t.Fatalf("accepted %q as %+v", token, s)
		}
		var jwk jose.JSONWebKey
		if err := jwk.UnmarshalJSON([]byte(s.KeyJWK)); err != nil || !jwk.Key.(*ecdsa.PrivateKey).Equal(key) {
			t.Fatalf("the served key is not the agent's: %v", err)
		}
	})
}
