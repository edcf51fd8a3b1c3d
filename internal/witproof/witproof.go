// Package witproof signs and checks the proof of possession that goes with a WIT-SVID: a
// WIMSE workload proof token (draft-ietf-wimse-wpt: typ wpt+jwt, aud, exp, jti, and wth,
// the WIT's SHA-256), signed with the key the WIT's cnf.jwk names. The demo workload and
// the tests use it; a WIT-SVID must never be accepted without such a proof.
package witproof

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/spiffe/go-spiffe/v2/exp/svid/witsvid"
)

// typ is the "typ" header of a workload proof token.
const typ = "wpt+jwt"

// Lifetime is how long a proof is valid: seconds, as the WIT-SVID spec (7.2) advises.
const Lifetime = 30 * time.Second

type claims struct {
	jwt.Claims
	WTH string `json:"wth"`
}

// Sign returns a proof for a request to aud by the holder of svid (which must carry its
// private key, as the Workload API returns it), issued at now.
func Sign(svid *witsvid.SVID, aud string, now time.Time) (string, error) {
	alg, err := algorithm(svid.PublicKey)
	if err != nil {
		return "", err
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: svid.PrivateKey}, (&jose.SignerOptions{}).WithType(typ))
	if err != nil {
		return "", fmt.Errorf("witproof: %w", err)
	}
	jti := make([]byte, 16)
	_, _ = rand.Read(jti)
	return jwt.Signed(signer).Claims(claims{
		Claims: jwt.Claims{Audience: jwt.Audience{aud}, ID: base64.RawURLEncoding.EncodeToString(jti),
			IssuedAt: jwt.NewNumericDate(now), Expiry: jwt.NewNumericDate(now.Add(Lifetime))},
		WTH: hash(svid.Marshal()),
	}).Serialize()
}

// Verify checks that proof is signed with the key svid's cnf.jwk names, is for this very
// WIT-SVID and for aud, and is valid at now. svid must be one the caller verified against
// a WIT bundle (witsvid.ParseAndValidate).
func Verify(proof string, svid *witsvid.SVID, aud string, now time.Time) error {
	alg, err := algorithm(svid.PublicKey)
	if err != nil {
		return err
	}
	tok, err := jwt.ParseSigned(proof, []jose.SignatureAlgorithm{alg})
	if err != nil {
		return fmt.Errorf("witproof: %w", err)
	}
	if t, _ := tok.Headers[0].ExtraHeaders[jose.HeaderType].(string); t != typ {
		return fmt.Errorf("witproof: typ %q, want %q", t, typ)
	}
	var c claims
	if err := tok.Claims(svid.PublicKey, &c); err != nil {
		return fmt.Errorf("witproof: not signed with the WIT-SVID's key: %w", err)
	}
	if c.WTH != hash(svid.Marshal()) {
		return errors.New("witproof: the proof is for another WIT-SVID")
	}
	if err := c.ValidateWithLeeway(jwt.Expected{AnyAudience: jwt.Audience{aud}, Time: now}, 0); err != nil {
		return fmt.Errorf("witproof: %w", err)
	}
	return nil
}

func hash(token string) string {
	sum := sha256.Sum256([]byte(token))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// algorithm is the JWS algorithm of a workload key: ES256/384/512 by curve (the agent
// makes P-256 keys), RS256 for RSA.
func algorithm(pub crypto.PublicKey) (jose.SignatureAlgorithm, error) {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256():
			return jose.ES256, nil
		case elliptic.P384():
			return jose.ES384, nil
		case elliptic.P521():
			return jose.ES512, nil
		}
	case *rsa.PublicKey:
		return jose.RS256, nil
	}
	return "", fmt.Errorf("witproof: unsupported workload key %T", pub)
}
