package k8stest

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// Resign returns a copy of a real service account token of this cluster whose
// validity ends at now+expIn (negative: already expired), signed with the cluster's
// key. TokenRequest will not issue a token shorter than 10 minutes, so this is how an
// expired yet genuine token is made.
func (c *Cluster) Resign(t testing.TB, token string, expIn time.Duration) string {
	t.Helper()
	jws, err := jose.ParseSigned(token, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		t.Fatalf("k8stest: parsing token: %v", err)
	}
	var claims map[string]any
	if err := json.Unmarshal(jws.UnsafePayloadWithoutVerification(), &claims); err != nil {
		t.Fatalf("k8stest: token claims: %v", err)
	}
	exp := time.Now().Add(expIn)
	claims["exp"] = exp.Unix()
	claims["iat"] = exp.Add(-time.Hour).Unix()
	claims["nbf"] = exp.Add(-time.Hour).Unix()
	body, err := json.Marshal(claims)
	if err != nil {
		t.Fatalf("k8stest: %v", err)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: c.SigningKey},
		(&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", jws.Signatures[0].Header.KeyID))
	if err != nil {
		t.Fatalf("k8stest: %v", err)
	}
	signed, err := signer.Sign(body)
	if err != nil {
		t.Fatalf("k8stest: signing token: %v", err)
	}
	out, err := signed.CompactSerialize()
	if err != nil {
		t.Fatalf("k8stest: %v", err)
	}
	return out
}
