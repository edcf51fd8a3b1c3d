package server

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/go-jose/go-jose/v4"
	localauthorityv1 "github.com/spiffe/spire-api-sdk/proto/spire/api/server/localauthority/v1"
	svidv1 "github.com/spiffe/spire-api-sdk/proto/spire/api/server/svid/v1"
	"github.com/spiffe/spire-api-sdk/proto/spire/api/types"

	"github.com/lanyard-dev/lanyard/internal/freeport"
	"github.com/lanyard-dev/lanyard/internal/poll"
	"github.com/lanyard-dev/lanyard/server/datastore/postgres/pgtest"
)

// sharedIssuer is the public issuer of servers behind one TLS proxy.
const sharedIssuer = "https://oidc.example.org"

// oidcServer is a server on a shared database serving OIDC discovery on its own loopback
// port (the proxy's backend) for sharedIssuer.
type oidcServer struct {
	*testServer
	base string // http://127.0.0.1:PORT
}

func twoOIDCServersOnOnePostgres(t *testing.T) (a, b oidcServer) {
	url := pgtest.Start(t).NewDatabase(t)
	start := func() oidcServer {
		port := strconv.Itoa(freeport.Loopback(t))
		extra := fmt.Sprintf("datastore:\n  type: postgres\n  connection_string: %q\n  max_open_conns: 4\n"+
			"jwt_issuer: %s\noidc:\n  address: 127.0.0.1:%s\n", url, sharedIssuer, port)
		return oidcServer{startServer(t, newConfigFor(t, testTD.Name(), extra)), "http://127.0.0.1:" + port}
	}
	return start(), start()
}

// discovery is the discovery document's issuer and jwks_uri.
func (s oidcServer) discovery(t *testing.T) (issuer, jwksURI string) {
	t.Helper()
	// The document names the public issuer, not this backend's address.
	p, err := oidc.NewProvider(oidc.InsecureIssuerURLContext(t.Context(), sharedIssuer), s.base)
	if err != nil {
		t.Fatalf("discovery at %s: %v", s.base, err)
	}
	var doc struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	if err := p.Claims(&doc); err != nil {
		t.Fatal(err)
	}
	return doc.Issuer, doc.JWKSURI
}

// kids are the key IDs s publishes, sorted.
func (s oidcServer) kids(t *testing.T) []string {
	t.Helper()
	resp, err := http.Get(s.base + "/keys")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var set jose.JSONWebKeySet
	if err := json.NewDecoder(resp.Body).Decode(&set); err != nil {
		t.Fatalf("%s/keys: %s: %v", s.base, resp.Status, err)
	}
	var kids []string
	for _, k := range set.Keys {
		kids = append(kids, k.KeyID)
	}
	slices.Sort(kids)
	return kids
}

// verify checks token as a relying party holding no cached keys would, with s's JWKS.
func (s oidcServer) verify(t *testing.T, token string) error {
	t.Helper()
	keys := oidc.NewRemoteKeySet(t.Context(), s.base+"/keys")
	_, err := oidc.NewVerifier(sharedIssuer, keys, &oidc.Config{ClientID: "cloud", SupportedSigningAlgs: []string{oidc.ES256}}).Verify(t.Context(), token)
	return err
}

func (s oidcServer) mint(t *testing.T) string {
	t.Helper()
	r, err := svidv1.NewSVIDClient(s.admin).MintJWTSVID(t.Context(), &svidv1.MintJWTSVIDRequest{
		Id: &types.SPIFFEID{TrustDomain: testTD.Name(), Path: "/web"}, Audience: []string{"cloud"}})
	if err != nil {
		t.Fatal(err)
	}
	return r.Svid.Token
}

// Two servers on one database behind one public issuer publish the same discovery
// document and keys, and a JWT key rotation on one of them leaves no moment in which a
// token either server issues fails verification against either server's keys: the
// prepared key is published by both before it signs.
func TestOIDCFromServersSharingADatastoreAgreesThroughAJWTKeyRotation(t *testing.T) {
	a, b := twoOIDCServersOnOnePostgres(t)
	servers := map[string]oidcServer{"a": a, "b": b}
	// verifiedEverywhere fails the test unless each token verifies with both servers' keys.
	verifiedEverywhere := func(t *testing.T, tokens map[string]string) {
		t.Helper()
		for issuedBy, token := range tokens {
			for name, s := range servers {
				if err := s.verify(t, token); err != nil {
					t.Errorf("a token from server %s does not verify with server %s's keys: %v", issuedBy, name, err)
				}
			}
		}
	}

	t.Run("the same issuer and the same keys", func(t *testing.T) {
		for name, s := range servers {
			if iss, jwks := s.discovery(t); iss != sharedIssuer || jwks != sharedIssuer+"/keys" {
				t.Errorf("server %s: issuer %q, jwks_uri %q; want %s and %s/keys", name, iss, jwks, sharedIssuer, sharedIssuer)
			}
		}
		poll.Until(t, 20*time.Second, "both servers to publish the same keys", func() bool {
			return slices.Equal(a.kids(t), b.kids(t))
		})
		verifiedEverywhere(t, map[string]string{"a": a.mint(t), "b": b.mint(t)})
	})

	t.Run("a JWT key rotation on one server", func(t *testing.T) {
		before := map[string]string{"a": a.mint(t), "b": b.mint(t)}
		la := localauthorityv1.NewLocalAuthorityClient(a.admin)
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		defer cancel()
		prep, err := la.PrepareJWTAuthority(ctx, &localauthorityv1.PrepareJWTAuthorityRequest{})
		if err != nil {
			t.Fatal(err)
		}
		kid := prep.PreparedAuthority.AuthorityId
		// Each server's bundle cache follows the datastore (a's is notified, b's polls
		// every second): the prepared key is published everywhere well before an
		// operator, or the CA at the key's half-life, activates it.
		prepared := time.Now()
		poll.Until(t, 20*time.Second, "both servers to publish the key prepared on a", func() bool {
			return slices.Contains(a.kids(t), kid) && slices.Contains(b.kids(t), kid)
		})
		t.Logf("the prepared key was published by both servers %v after PrepareJWTAuthority returned", time.Since(prepared))
		if _, err := la.ActivateJWTAuthority(ctx, &localauthorityv1.ActivateJWTAuthorityRequest{AuthorityId: kid}); err != nil {
			t.Fatal(err)
		}
		// No polling from here: the first token of the new key must verify everywhere.
		fromA := a.mint(t)
		if got := tokenKid(t, fromA); got != kid {
			t.Fatalf("server a signs with %s after activating %s", got, kid)
		}
		verifiedEverywhere(t, map[string]string{"a (new key)": fromA, "b": b.mint(t)})
		verifiedEverywhere(t, before)
	})
}

// tokenKid is the kid in a compact JWS's header.
func tokenKid(t *testing.T, token string) string {
	t.Helper()
	sig, err := jose.ParseSigned(token, []jose.SignatureAlgorithm{jose.ES256, jose.ES384, jose.RS256})
	if err != nil {
		t.Fatal(err)
	}
	return sig.Signatures[0].Header.KeyID
}
