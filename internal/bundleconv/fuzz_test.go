package bundleconv

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"testing"
	"time"

	"github.com/spiffe/spire-api-sdk/proto/spire/api/types"
	"google.golang.org/protobuf/proto"

	"github.com/lanyard-dev/lanyard/internal/testca"
)

// FuzzToSPIFFE feeds bundles in the API's wire form (what agents receive from the server
// and the CLI from `bundle show`). A bundle that converts must come back from the SPIFFE
// form unchanged, and its PEM form must hold exactly its X.509 authorities.
func FuzzToSPIFFE(f *testing.F) {
	ca, _ := testca.New(f, "example.org CA", nil, nil, time.Now().Add(24*time.Hour))
	key, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		f.Fatal(err)
	}
	pub, err := x509.MarshalPKIXPublicKey(key.Public())
	if err != nil {
		f.Fatal(err)
	}
	for _, b := range []*types.Bundle{
		{TrustDomain: "example.org", X509Authorities: []*types.X509Certificate{{Asn1: ca.Raw}},
			JwtAuthorities: []*types.JWTKey{{KeyId: "k1", PublicKey: pub}}, RefreshHint: 300, SequenceNumber: 3},
		{TrustDomain: "example.org", JwtAuthorities: []*types.JWTKey{{KeyId: "", PublicKey: pub}}},
		{TrustDomain: "example.org", WitAuthorities: []*types.WITKey{{KeyId: "w", PublicKey: pub}}, RefreshHint: -5},
		{TrustDomain: "Example.org"},
		{TrustDomain: "example.org", RefreshHint: 9223372037}, // overflowed time.Duration
	} {
		wire, err := proto.Marshal(b)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(wire)
	}
	f.Fuzz(func(t *testing.T, wire []byte) {
		var in types.Bundle
		if proto.Unmarshal(wire, &in) != nil {
			return
		}
		sb, err := ToSPIFFE(&in)
		if err != nil {
			return
		}
		back, err := FromSPIFFE(sb)
		if err != nil {
			t.Fatalf("a converted bundle does not convert back: %v", err)
		}
		again, err := ToSPIFFE(back)
		if err != nil {
			t.Fatalf("a bundle converted back does not convert again: %v", err)
		}
		if !again.Equal(sb) {
			t.Fatalf("converting to the API form and back changes the bundle")
		}
		certs := 0
		for rest := X509PEM(&in); ; certs++ {
			var block *pem.Block
			if block, rest = pem.Decode(rest); block == nil {
				break
			}
			if _, err := x509.ParseCertificate(block.Bytes); err != nil {
				t.Fatalf("PEM form holds a certificate that does not parse: %v", err)
			}
		}
		if certs != len(sb.X509Authorities()) {
			t.Fatalf("PEM form holds %d certificates, the bundle %d", certs, len(sb.X509Authorities()))
		}
	})
}
