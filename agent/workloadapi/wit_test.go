package workloadapi

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/spiffe/go-spiffe/v2/exp/svid/witsvid"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/svid/jwtsvid"
	wlapi "github.com/spiffe/go-spiffe/v2/workloadapi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/lanyard-dev/lanyard/agent/cache"
)

// witKid is the key ID of the test authority's WIT key (its JWT key signs WIT-SVIDs too
// here; the bundle lists it under both uses, with distinct key IDs).
const witKid = "wit-key"

// addWIT gives entry a WIT-SVID signed by the test authority and bound to a fresh key.
func (e *env) addWIT(ent *cache.Entry) *cache.WITSVID {
	e.t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: e.ca.jwtKey, KeyID: witKid}},
		(&jose.SignerOptions{}).WithType("wit+jwt"))
	if err != nil {
		e.t.Fatal(err)
	}
	now := time.Now()
	tok, err := jwt.Signed(signer).Claims(jwt.Claims{Subject: ent.SPIFFEID, Expiry: jwt.NewNumericDate(now.Add(time.Hour))}).
		Claims(map[string]any{"cnf": map[string]any{"jwk": jose.JSONWebKey{Key: key.Public(), Algorithm: "ES256"}}}).Serialize()
	if err != nil {
		e.t.Fatal(err)
	}
	priv, _ := jose.JSONWebKey{Key: key, Algorithm: "ES256"}.MarshalJSON()
	s := &cache.WITSVID{EntryID: ent.ID, ID: spiffeid.RequireFromString(ent.SPIFFEID), Revision: ent.RevisionNumber,
		IssuedAt: now, ExpiresAt: now.Add(time.Hour), Kid: witKid, Token: tok, KeyJWK: string(priv)}
	e.cache.UpdateWITSVIDs([]*cache.WITSVID{s})
	return s
}

func startWIT(t testing.TB) *env {
	e := start(t)
	b := e.ca.bundle()
	if err := b.AddWITAuthority(witKid, e.ca.jwtKey.Public()); err != nil {
		t.Fatal(err)
	}
	e.cache.SetBundle(b)
	return e
}

func TestFetchWITSVIDServesTheCallersWITSVIDsWithTheirKeys(t *testing.T) {
	e := startWIT(t)
	c := e.client()
	if _, err := c.FetchWITSVID(ctxT(t), ""); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("with no identity: %v; want PermissionDenied", err)
	}
	web := e.add("web", "spiffe://example.org/web", nil, selfUID)
	db := e.add("db", "spiffe://example.org/db", func(en *cache.Entry) { en.Hint = "internal" }, selfUID)
	other := e.add("other", "spiffe://example.org/other", nil, "uid:999999")
	e.addWIT(web)
	e.addWIT(db)
	e.addWIT(other)
	svids, err := c.FetchWITSVIDs(ctxT(t), "")
	if err != nil {
		t.Fatal(err)
	}
	if len(svids) != 2 || svids[0].ID.Path() != "/db" || svids[0].Hint != "internal" || svids[1].ID.Path() != "/web" {
		t.Fatalf("WIT-SVIDs %v; want /db (hint internal) then /web, not another uid's", svids)
	}
	for _, s := range svids {
		pub := s.PrivateKey.(*ecdsa.PrivateKey).Public()
		if !pub.(*ecdsa.PublicKey).Equal(s.PublicKey) {
			t.Fatalf("%s: the private key served is not the one cnf.jwk names", s.ID)
		}
	}
	one, err := c.FetchWITSVID(ctxT(t), "spiffe://example.org/web")
	if err != nil || one.ID.Path() != "/web" {
		t.Fatalf("asking for /web: %v %v", one, err)
	}
	if _, err := c.FetchWITSVID(ctxT(t), "spiffe://example.org/other"); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("asking for another uid's WIT-SVID: %v; want PermissionDenied", err)
	}
	if _, err := c.FetchWITSVID(ctxT(t), "not an id"); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("asking for a non-ID: %v; want InvalidArgument", err)
	}

	// The WIT bundle holds the WIT authorities only: a JWT key must not verify WIT-SVIDs.
	set, err := c.FetchWITBundles(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	b, ok := set.Get(td)
	if !ok || len(b.WITAuthorities()) != 1 || !b.HasWITAuthority(witKid) {
		t.Fatalf("WIT bundle %v; want only %s", b.WITAuthorities(), witKid)
	}
	if _, err := witsvid.ParseAndValidate(svids[1].Marshal(), set); err != nil {
		t.Fatalf("a served WIT-SVID does not verify against the served WIT bundle: %v", err)
	}
}

// BenchmarkFetchSVID compares whole Workload API round trips through go-spiffe's client for
// each SVID type, from 8 concurrent workloads each on its own connection: X.509 and WIT
// come from the cache; JWT from the agent's JWT cache (warm).
func BenchmarkFetchSVID(b *testing.B) {
	for _, kind := range []string{"x509", "jwt", "wit"} {
		b.Run(kind, func(b *testing.B) {
			e := startWIT(b)
			e.addWIT(e.add("mine", "spiffe://example.org/web", nil, selfUID))
			fetch := map[string]func(*wlapi.Client) error{
				"x509": func(c *wlapi.Client) error { _, err := c.FetchX509SVID(context.Background()); return err },
				"jwt": func(c *wlapi.Client) error {
					_, err := c.FetchJWTSVID(context.Background(), jwtsvid.Params{Audience: "bench"})
					return err
				},
				"wit": func(c *wlapi.Client) error { _, err := c.FetchWITSVID(context.Background(), ""); return err },
			}[kind]
			b.SetParallelism(max(1, 8/runtime.GOMAXPROCS(0)))
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				c, err := wlapi.New(context.Background(), wlapi.WithAddr(e.addr))
				if err != nil {
					b.Error(err)
					return
				}
				defer c.Close()
				for pb.Next() {
					if err := fetch(c); err != nil {
						b.Error(fmt.Errorf("%s fetch: %w", kind, err))
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "fetches/s")
		})
	}
}

func TestAnAgentWithoutWITSVIDsAnswersUnimplemented(t *testing.T) {
	e := start(t, func(c *Config) { c.NoWIT = true })
	e.add("web", "spiffe://example.org/web", nil, selfUID)
	c := e.client()
	if _, err := c.FetchWITSVID(ctxT(t), ""); status.Code(err) != codes.Unimplemented {
		t.Fatalf("FetchWITSVID on an agent with wit_svids: false: %v; want Unimplemented", err)
	}
	if _, err := c.FetchWITBundles(ctxT(t)); status.Code(err) != codes.Unimplemented {
		t.Fatalf("FetchWITBundles on an agent with wit_svids: false: %v; want Unimplemented", err)
	}
}
