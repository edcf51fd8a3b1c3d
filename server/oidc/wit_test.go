package oidc

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/spiffe/spire-api-sdk/proto/spire/api/types"
)

// WIT keys never appear in the OIDC key set: a relying party that discovers keys through
// OIDC must not accept a WIT-SVID without its proof of possession (WIT-SVID spec 7.1).
func TestDiscoveryKeysLeaveOutWITAuthorities(t *testing.T) {
	jwtKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	witKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	witDER, _ := x509.MarshalPKIXPublicKey(witKey.Public())
	b := &types.Bundle{TrustDomain: "a.org", JwtAuthorities: []*types.JWTKey{jwtAuthority(t, "jwt-1", jwtKey)},
		WitAuthorities: []*types.WITKey{{KeyId: "wit-1", PublicKey: witDER}}}
	h, err := NewHandler(Config{Issuer: "https://oidc.a.org", Bundles: staticBundle{b}})
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "https://oidc.a.org/keys", nil))
	var doc struct {
		Keys []struct {
			Kid string `json:"kid"`
		} `json:"keys"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &doc); err != nil || rec.Code != http.StatusOK {
		t.Fatalf("/keys: %d %v\n%s", rec.Code, err, rec.Body)
	}
	if len(doc.Keys) != 1 || doc.Keys[0].Kid != "jwt-1" {
		t.Fatalf("/keys lists %+v; want the JWT key only", doc.Keys)
	}
}
