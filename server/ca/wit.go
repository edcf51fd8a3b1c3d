package ca

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"errors"
	"fmt"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
)

// witType is the "typ" header of every WIT-SVID (WIT-SVID spec 2.2).
const witType = "wit+jwt"

// ErrWITAlgorithm is returned when a WIT-SVID's confirmation key and its algorithm do not
// fit together or the algorithm is not one the WIT-SVID spec (3.2) allows.
var ErrWITAlgorithm = errors.New("ca: WIT-SVID key algorithm")

// WITSVIDParams describes a WIT-SVID to sign.
type WITSVIDParams struct {
	ID spiffeid.ID
	// PublicKey is the workload's key, bound to the token in "cnf"; Algorithm is its
	// "cnf.jwk.alg", one the WIT-SVID spec allows that fits the key (ES256 for P-256).
	PublicKey crypto.PublicKey
	Algorithm string
	TTL       time.Duration
	// NotAfter, when set, caps the SVID's expiry (the entry's own expiry).
	NotAfter time.Time
}

// WITSVID is a signed WIT-SVID.
type WITSVID struct {
	Token            string
	IssuedAt, Expiry time.Time
}

// SignWITSVID signs a WIT-SVID per the SPIFFE WIT-SVID spec with the active WIT key: header
// alg, kid and typ "wit+jwt"; claims sub, exp, iat, a random jti, cnf.jwk with alg, and iss
// when configured; never aud. It never outlives the key that signs it, so it verifies
// against the bundle for all its life.
func (c *CA) SignWITSVID(_ context.Context, p WITSVIDParams) (WITSVID, error) {
	st := c.signing.Load()
	if err := c.checkParams(p.ID, p.TTL); err != nil {
		return WITSVID{}, err
	}
	if err := CheckWITKey(p.PublicKey, p.Algorithm); err != nil {
		return WITSVID{}, err
	}
	now := c.cfg.Clock.Now()
	exp := capExpiry(capExpiry(now.Add(p.TTL), p.NotAfter), st.witNotAfter).Truncate(time.Second)
	if !exp.After(now) {
		return WITSVID{}, fmt.Errorf("ca: %s would expire at %s, which has passed", p.ID, exp.UTC().Format(time.RFC3339))
	}
	claims := jwt.Claims{
		Subject:  p.ID.String(),
		Expiry:   jwt.NewNumericDate(exp),
		IssuedAt: jwt.NewNumericDate(now),
		ID:       randomID(""),
		Issuer:   c.cfg.WITIssuer,
	}
	cnf := map[string]any{"cnf": map[string]any{"jwk": jose.JSONWebKey{Key: p.PublicKey, Algorithm: p.Algorithm}}}
	token, err := jwt.Signed(st.wit).Claims(claims).Claims(cnf).Serialize()
	if err != nil {
		return WITSVID{}, fmt.Errorf("ca: signing WIT-SVID: %w", err)
	}
	return WITSVID{Token: token, IssuedAt: now.Truncate(time.Second), Expiry: exp}, nil
}

// CheckWITKey reports whether alg is an algorithm the WIT-SVID spec allows for
// cnf.jwk.alg and fits key: ES256/384/512 for ECDSA on P-256/384/521, RS* and PS* for RSA
// of at least 2048 bits.
func CheckWITKey(key crypto.PublicKey, alg string) error {
	switch k := key.(type) {
	case *ecdsa.PublicKey:
		want := map[elliptic.Curve]string{elliptic.P256(): "ES256", elliptic.P384(): "ES384", elliptic.P521(): "ES512"}[k.Curve]
		if want == "" || alg != want {
			return fmt.Errorf("%w: an ECDSA %s key signs %q, not %q", ErrWITAlgorithm, k.Curve.Params().Name, want, alg)
		}
	case *rsa.PublicKey:
		switch alg {
		case "RS256", "RS384", "RS512", "PS256", "PS384", "PS512":
		default:
			return fmt.Errorf("%w: an RSA key signs RS256/384/512 or PS256/384/512, not %q", ErrWITAlgorithm, alg)
		}
		if k.N.BitLen() < 2048 {
			return fmt.Errorf("%w: an RSA key of %d bits is too short; use at least 2048", ErrWITAlgorithm, k.N.BitLen())
		}
	default:
		return fmt.Errorf("%w: %T", ErrUnsupportedKeyType, key)
	}
	return nil
}
