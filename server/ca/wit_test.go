package ca

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/exp/bundle/witbundle"
	"github.com/spiffe/go-spiffe/v2/exp/svid/witsvid"
	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/lanyard-dev/lanyard/server/datastore"
)

func (f *fixture) witBundle() *witbundle.Bundle {
	b := witbundle.New(td)
	for _, k := range f.bundle().WITAuthorities {
		pub, err := x509.ParsePKIXPublicKey(k.PublicKey)
		if err != nil {
			f.t.Fatal(err)
		}
		if err := b.AddWITAuthority(k.KeyID, pub); err != nil {
			f.t.Fatal(err)
		}
	}
	return b
}

func (f *fixture) signWIT(c *CA, ttl time.Duration) (WITSVID, *ecdsa.PrivateKey) {
	f.t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	w, err := c.SignWITSVID(context.Background(), WITSVIDParams{ID: spiffeid.RequireFromPath(td, "/web"), PublicKey: key.Public(), Algorithm: "ES256", TTL: ttl})
	if err != nil {
		f.t.Fatal(err)
	}
	return w, key
}

// decodePart returns the JSON object of a token's header (0) or payload (1).
func decodePart(t *testing.T, token string, i int) map[string]any {
	t.Helper()
	raw, err := base64.RawURLEncoding.DecodeString(strings.Split(token, ".")[i])
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestWITSVIDFollowsTheSpec(t *testing.T) {
	f := newFixture(t)
	c := f.newCA()
	w, key := f.signWIT(c, time.Hour)
	if !w.Expiry.Equal(f.clock.Now().Add(time.Hour)) || !w.IssuedAt.Equal(f.clock.Now()) {
		t.Fatalf("issued %s, expires %s; want now and an hour later", w.IssuedAt, w.Expiry)
	}
	header := decodePart(t, w.Token, 0)
	if header["typ"] != "wit+jwt" || header["alg"] != "ES256" || header["kid"] == "" || len(header) != 3 {
		t.Fatalf("header %v; want exactly alg ES256, kid, typ wit+jwt", header)
	}
	if slices.ContainsFunc(f.bundle().JWTAuthorities, func(k datastore.JWTKey) bool { return k.KeyID == header["kid"] }) {
		t.Fatal("the WIT key's kid is also a JWT key's")
	}
	claims := decodePart(t, w.Token, 1)
	if got := slices.Sorted(maps.Keys(claims)); strings.Join(got, ",") != "cnf,exp,iat,jti,sub" {
		t.Fatalf("claims %v; want exactly cnf, exp, iat, jti, sub (no aud; no iss unless configured)", got)
	}
	jwk := claims["cnf"].(map[string]any)["jwk"].(map[string]any)
	if jwk["alg"] != "ES256" || jwk["d"] != nil {
		t.Fatalf("cnf.jwk = %v; want the public key with alg ES256", jwk)
	}
	svid, err := witsvid.ParseAndValidate(w.Token, f.witBundle())
	if err != nil {
		t.Fatalf("go-spiffe rejects the WIT-SVID: %v", err)
	}
	if svid.ID.String() != "spiffe://example.org/web" || !key.PublicKey.Equal(svid.PublicKey) {
		t.Fatalf("go-spiffe reads %s with key %v", svid.ID, svid.PublicKey)
	}
	if _, err := witsvid.ParseAndValidate(w.Token, witbundle.New(td)); err == nil {
		t.Fatal("the WIT-SVID validated against a bundle without its key")
	}
	other, _ := f.signWIT(c, time.Hour)
	if decodePart(t, other.Token, 1)["jti"] == claims["jti"] {
		t.Fatal("two WIT-SVIDs share a jti")
	}
}

func TestWITSVIDRefusesKeysTheSpecDoesNotAllow(t *testing.T) {
	c := newFixture(t).newCA()
	p256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	edPub, _, _ := ed25519.GenerateKey(rand.Reader)
	for name, p := range map[string]WITSVIDParams{
		"an algorithm that does not fit the key": {PublicKey: p256.Public(), Algorithm: "ES384"},
		"an algorithm the spec does not list":    {PublicKey: p256.Public(), Algorithm: "none"},
		"an Ed25519 key":                         {PublicKey: edPub, Algorithm: "EdDSA"},
	} {
		p.ID, p.TTL = spiffeid.RequireFromPath(td, "/web"), time.Hour
		_, err := c.SignWITSVID(context.Background(), p)
		if !errors.Is(err, ErrWITAlgorithm) && !errors.Is(err, ErrUnsupportedKeyType) {
			t.Errorf("%s: err = %v; want a key algorithm error", name, err)
		}
	}
}

func TestWITKeyRotatesLikeTheJWTKey(t *testing.T) {
	f := newFixture(t)
	c := f.newCA(func(cfg *Config) { cfg.WITIssuer = "wit.example.org" })
	first, _ := f.signWIT(c, time.Hour)
	firstKid := decodePart(t, first.Token, 0)["kid"]
	if decodePart(t, first.Token, 1)["iss"] != "wit.example.org" {
		t.Fatal("wit_issuer is not the iss claim")
	}

	f.clock.SetTime(f.clock.Now().Add(3 * time.Hour)) // half of 6h: prepared and published
	if err := c.Rotate(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := len(f.bundle().WITAuthorities); n != 2 {
		t.Fatalf("%d WIT keys in the bundle after the prepare point; want 2", n)
	}
	if w, _ := f.signWIT(c, time.Hour); decodePart(t, w.Token, 0)["kid"] != firstKid {
		t.Fatal("signing moved to the prepared WIT key before activation")
	}
	long, _ := f.signWIT(c, 24*time.Hour)
	if want := f.clock.Now().Add(3 * time.Hour); !long.Expiry.Equal(want) {
		t.Fatalf("a 24h WIT-SVID expires %s; want the WIT key's expiry %s", long.Expiry, want)
	}

	f.clock.SetTime(f.clock.Now().Add(2 * time.Hour)) // 5/6: activated
	if err := c.Rotate(context.Background()); err != nil {
		t.Fatal(err)
	}
	if w, _ := f.signWIT(c, time.Hour); decodePart(t, w.Token, 0)["kid"] == firstKid {
		t.Fatal("still signing with the old WIT key after activation")
	}
	if s := c.WITState(); s.Active == nil || s.Old == nil || s.Old.ID != firstKid {
		t.Fatalf("WIT state %+v; want a new active key and %s old", s, firstKid)
	}
}

// A journal written before WIT-SVIDs has no WIT key: the next start makes one and keeps
// the CA it has.
func TestJournalWithoutWITKeysGetsOne(t *testing.T) {
	f := newFixture(t)
	ca := f.newCA().X509Authorities()[0]
	data, err := f.store.FetchCAJournal(context.Background(), "s1")
	if err != nil {
		t.Fatal(err)
	}
	var j map[string]json.RawMessage
	if err := json.Unmarshal(data, &j); err != nil {
		t.Fatal(err)
	}
	delete(j, "wit")
	data, _ = json.Marshal(j)
	if err := f.store.SetCAJournal(context.Background(), "s1", data); err != nil {
		t.Fatal(err)
	}
	before := len(f.bundle().WITAuthorities)
	c := f.newCA()
	if !c.X509Authorities()[0].Equal(ca) || c.WITState().Active == nil || len(f.bundle().WITAuthorities) != before+1 {
		t.Fatalf("after a start from a journal without WIT keys: same CA %v, WIT state %+v", c.X509Authorities()[0].Equal(ca), c.WITState())
	}
	f.signWIT(c, time.Minute)
}
