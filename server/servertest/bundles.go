package servertest

import (
	"crypto/x509"
	"testing"
	"time"

	"github.com/spiffe/spire-api-sdk/proto/spire/api/types"

	"github.com/lanyard-dev/lanyard/internal/testca"
)

// PartnerBundle is a bundle for another trust domain, as a partner would publish it: a
// fresh self-signed X.509 CA and a JWT key with ID keyID, both valid for a day.
func PartnerBundle(t testing.TB, trustDomain, keyID string) *types.Bundle {
	t.Helper()
	ca, key := testca.New(t, trustDomain, nil, nil, time.Now().Add(24*time.Hour))
	pub, err := x509.MarshalPKIXPublicKey(key.Public())
	if err != nil {
		t.Fatal(err)
	}
	return &types.Bundle{
		TrustDomain:     trustDomain,
		X509Authorities: []*types.X509Certificate{{Asn1: ca.Raw}},
		JwtAuthorities:  []*types.JWTKey{{KeyId: keyID, PublicKey: pub, ExpiresAt: ca.NotAfter.Unix()}},
		RefreshHint:     300,
	}
}
