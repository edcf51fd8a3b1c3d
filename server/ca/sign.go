package ca

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/cryptosigner"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
)

// ErrUnsupportedKeyType is returned for a public key the CA does not sign: it signs
// ECDSA and RSA keys.
var ErrUnsupportedKeyType = errors.New("ca: unsupported public key type (ECDSA and RSA keys are signed)")

// Backdate is how long before signing an X.509-SVID's notBefore lies, so that it is valid
// at once on peers whose clocks lag a little; a lifetime is the TTL plus Backdate.
const Backdate = backdate

// X509SVIDParams describes an X.509-SVID to sign.
type X509SVIDParams struct {
	ID        spiffeid.ID
	PublicKey crypto.PublicKey
	TTL       time.Duration
	DNSNames  []string
	// NotAfter, when set, caps the SVID's expiry (the entry's own expiry).
	NotAfter time.Time
}

// JWTSVIDParams describes a JWT-SVID to sign.
type JWTSVIDParams struct {
	ID       spiffeid.ID
	Audience []string
	TTL      time.Duration
	// NotAfter, when set, caps the SVID's expiry (the entry's own expiry).
	NotAfter time.Time
}

// signingState is the active CA and JWT key, swapped atomically on rotation so signing
// never waits for rotation.
type signingState struct {
	caCert   *x509.Certificate
	caSigner crypto.Signer
	// caChain follows the leaf in every SVID: empty for a self-signed CA, else our CA
	// certificate and the upstream chain above it.
	caChain []*x509.Certificate
	jwtKid  string
	jwt     jose.Signer
	wit     jose.Signer
	// witNotAfter is when the active WIT key expires; no WIT-SVID outlives it.
	witNotAfter time.Time
}

func (c *CA) newSigningState() (*signingState, error) {
	st := &signingState{}
	for _, s := range c.journal.X509 {
		if s.Status == active {
			st.caCert, st.caSigner = s.cert, s.signer
			if !isSelfSigned(s.cert) {
				chain, err := parseChain(s.cert, s.UpstreamDER)
				if err != nil {
					return nil, err
				}
				st.caChain = chain
			}
		}
	}
	var err error
	if st.jwtKid, st.jwt, err = activeSigner(c.journal.JWT, "JWT"); err != nil {
		return nil, err
	}
	if _, st.wit, err = activeSigner(c.journal.WIT, witType); err != nil {
		return nil, err
	}
	for _, s := range c.journal.WIT {
		if s.Status == active {
			st.witNotAfter = s.NotAfter
		}
	}
	if st.caCert == nil || st.jwt == nil || st.wit == nil {
		return nil, errors.New("ca: no active CA, JWT key or WIT key")
	}
	return st, nil
}

// activeSigner returns the kid and a signer of the active slot, whose tokens carry the
// "typ" header typ; a nil signer when none is active.
func activeSigner(slots []*jwtSlot, typ string) (string, jose.Signer, error) {
	for _, s := range slots {
		if s.Status != active {
			continue
		}
		alg, err := jwtAlgorithm(s.signer)
		if err != nil {
			return "", nil, err
		}
		var key any = s.signer
		switch s.signer.(type) {
		case *ecdsa.PrivateKey, *rsa.PrivateKey:
		default:
			// A key that stays in its key manager (a PKCS#11 token): go-jose signs only
			// through its own opaque interface with those.
			key = cryptosigner.Opaque(s.signer)
		}
		signer, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: jose.JSONWebKey{Key: key, KeyID: s.Kid}},
			(&jose.SignerOptions{}).WithType(jose.ContentType(typ)))
		if err != nil {
			return "", nil, fmt.Errorf("%s signer: %w", typ, err)
		}
		return s.Kid, signer, nil
	}
	return "", nil, nil
}

func jwtAlgorithm(s crypto.Signer) (jose.SignatureAlgorithm, error) {
	switch k := s.Public().(type) {
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256():
			return jose.ES256, nil
		case elliptic.P384():
			return jose.ES384, nil
		}
	case *rsa.PublicKey:
		return jose.RS256, nil
	}
	return "", fmt.Errorf("ca: no JWT algorithm for key type %T", s.Public())
}

// SignX509SVID signs an X.509-SVID per the SPIFFE X509-SVID spec with the active CA: one
// URI SAN, not a CA, digitalSignature, serverAuth+clientAuth, never outliving the CA.
func (c *CA) SignX509SVID(_ context.Context, p X509SVIDParams) ([]*x509.Certificate, error) {
	st := c.signing.Load()
	if err := c.checkParams(p.ID, p.TTL); err != nil {
		return nil, err
	}
	switch k := p.PublicKey.(type) {
	case *ecdsa.PublicKey, *rsa.PublicKey:
	default:
		return nil, fmt.Errorf("%w: %T", ErrUnsupportedKeyType, k)
	}
	serial, err := randomSerial()
	if err != nil {
		return nil, err
	}
	now := c.cfg.Clock.Now()
	notAfter := capExpiry(now.Add(p.TTL), p.NotAfter)
	if notAfter.After(st.caCert.NotAfter) {
		notAfter = st.caCert.NotAfter
	}
	if !notAfter.After(now) {
		return nil, fmt.Errorf("ca: %s would expire at %s, which has passed", p.ID, notAfter.UTC().Format(time.RFC3339))
	}
	u := p.ID.URL()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{Organization: []string{"SPIFFE"}},
		URIs:                  []*url.URL{u},
		DNSNames:              p.DNSNames,
		NotBefore:             now.Add(-backdate),
		NotAfter:              notAfter,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	if len(p.DNSNames) > 0 {
		tmpl.Subject.CommonName = p.DNSNames[0]
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, st.caCert, p.PublicKey, st.caSigner)
	if err != nil {
		return nil, fmt.Errorf("ca: signing X.509-SVID: %w", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return append([]*x509.Certificate{leaf}, st.caChain...), nil
}

func parseChain(ca *x509.Certificate, upstream [][]byte) ([]*x509.Certificate, error) {
	out := []*x509.Certificate{ca}
	for _, der := range upstream {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return nil, fmt.Errorf("ca: journal holds an unparsable upstream certificate: %w", err)
		}
		out = append(out, c)
	}
	return out, nil
}

// SignJWTSVID signs a JWT-SVID per the SPIFFE JWT-SVID spec with the active JWT key.
func (c *CA) SignJWTSVID(_ context.Context, p JWTSVIDParams) (string, time.Time, error) {
	st := c.signing.Load()
	if err := c.checkParams(p.ID, p.TTL); err != nil {
		return "", time.Time{}, err
	}
	if len(p.Audience) == 0 {
		return "", time.Time{}, errors.New("ca: a JWT-SVID needs at least one audience")
	}
	now := c.cfg.Clock.Now()
	exp := capExpiry(now.Add(p.TTL), p.NotAfter).Truncate(time.Second)
	if !exp.After(now) {
		return "", time.Time{}, fmt.Errorf("ca: %s would expire at %s, which has passed", p.ID, exp.UTC().Format(time.RFC3339))
	}
	claims := jwt.Claims{
		Subject:  p.ID.String(),
		Expiry:   jwt.NewNumericDate(exp),
		IssuedAt: jwt.NewNumericDate(now),
		Issuer:   c.cfg.JWTIssuer,
	}
	// "aud" is always an array, as SPIRE sends it: jwt.Audience would collapse a single
	// audience to a string, which some relying parties refuse.
	aud := map[string]any{"aud": p.Audience}
	token, err := jwt.Signed(st.jwt).Claims(claims).Claims(aud).Serialize()
	if err != nil {
		return "", time.Time{}, fmt.Errorf("ca: signing JWT-SVID: %w", err)
	}
	return token, exp, nil
}

// capExpiry returns exp, or limit when limit is set and earlier.
func capExpiry(exp, limit time.Time) time.Time {
	if !limit.IsZero() && limit.Before(exp) {
		return limit
	}
	return exp
}

func (c *CA) checkParams(id spiffeid.ID, ttl time.Duration) error {
	if id.IsZero() || !id.MemberOf(c.cfg.TrustDomain) {
		return fmt.Errorf("ca: %q is not an ID in trust domain %q", id, c.cfg.TrustDomain.Name())
	}
	if ttl <= 0 {
		return errors.New("ca: TTL must be positive")
	}
	return nil
}
