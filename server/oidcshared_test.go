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
	"k8s.io/utils/clock"
	clocktesting "k8s.io/utils/clock/testing"

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

// twoOIDCServersOnOnePostgres starts them with extra YAML, on clk when it is not nil.
func twoOIDCServersOnOnePostgres(t *testing.T, extra string, clk clock.WithTicker) (a, b oidcServer) {
	url := pgtest.Start(t).NewDatabase(t)
	start := func() oidcServer {
		port := strconv.Itoa(freeport.Loopback(t))
		cfg := newConfigFor(t, testTD.Name(), fmt.Sprintf("datastore:\n  type: postgres\n  connection_string: %q\n  max_open_conns: 4\n"+
			"jwt_issuer: %s\noidc:\n  address: 127.0.0.1:%s\n", url, sharedIssuer, port)+extra)
		cfg.Clock = clk
		return oidcServer{startServer(t, cfg), "http://127.0.0.1:" + port}
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
	cfg := &oidc.Config{ClientID: "cloud", SupportedSigningAlgs: []string{oidc.ES256}}
	if s.cfg.Clock != nil {
		cfg.Now = s.cfg.Clock.Now // the tokens' times are the server's
	}
	_, err := oidc.NewVerifier(sharedIssuer, keys, cfg).Verify(t.Context(), token)
	return err
}

// jwtState is s's active and prepared JWT key IDs ("" when none is prepared).
func (s oidcServer) jwtState(t *testing.T) (active, prepared string) {
	t.Helper()
	st, err := localauthorityv1.NewLocalAuthorityClient(s.admin).GetJWTAuthorityState(t.Context(), &localauthorityv1.GetJWTAuthorityStateRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if st.Prepared != nil {
		prepared = st.Prepared.AuthorityId
	}
	return st.Active.GetAuthorityId(), prepared
}

// mint has s sign a JWT-SVID for /web, living ttl seconds (0: the default).
func (s oidcServer) mint(t *testing.T, ttl int32) string {
	t.Helper()
	r, err := svidv1.NewSVIDClient(s.admin).MintJWTSVID(t.Context(), &svidv1.MintJWTSVIDRequest{
		Id: &types.SPIFFEID{TrustDomain: testTD.Name(), Path: "/web"}, Audience: []string{"cloud"}, Ttl: ttl})
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
	a, b := twoOIDCServersOnOnePostgres(t, "", nil)
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
		verifiedEverywhere(t, map[string]string{"a": a.mint(t, 0), "b": b.mint(t, 0)})
	})

	t.Run("a JWT key rotation on one server", func(t *testing.T) {
		before := map[string]string{"a": a.mint(t, 0), "b": b.mint(t, 0)}
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
		fromA := a.mint(t, 0)
		if got := tokenKid(t, fromA); got != kid {
			t.Fatalf("server a signs with %s after activating %s", got, kid)
		}
		verifiedEverywhere(t, map[string]string{"a (new key)": fromA, "b": b.mint(t, 0)})
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

// The CA's own rotation, driven by ca_ttl on the servers' clock, gives the same guarantee:
// the key a prepares at half its active key's life is published by both servers before a
// activates it at five sixths, and the first token it signs verifies everywhere.
func TestOIDCFromServersSharingADatastorePublishesTheNextKeyBeforeTheCARotatesToIt(t *testing.T) {
	clk := clocktesting.NewFakeClock(time.Now())
	a, b := twoOIDCServersOnOnePostgres(t, "ca_ttl: 2h\n", clk)
	before, _ := a.jwtState(t)
	// The CA checks every 10s of its clock; stepping that far at each poll reaches the
	// tick whenever its ticker was made.
	clk.Step(time.Hour)
	var next string
	poll.Until(t, 20*time.Second, "server a to prepare its next JWT key at half-life", func() bool {
		clk.Step(10 * time.Second)
		_, next = a.jwtState(t)
		return next != ""
	})
	poll.Until(t, 20*time.Second, "both servers to publish a's next key", func() bool {
		return slices.Contains(a.kids(t), next) && slices.Contains(b.kids(t), next)
	})
	if active, _ := a.jwtState(t); active != before {
		t.Fatalf("server a activated %s before its key's five sixths, want %s still active", active, before)
	}
	oldToken := a.mint(t, 3600) // still valid after the rotation below
	clk.Step(40 * time.Minute)
	poll.Until(t, 20*time.Second, "server a to activate its next key at five sixths", func() bool {
		clk.Step(10 * time.Second)
		active, _ := a.jwtState(t)
		return active == next
	})
	fromA := a.mint(t, 0)
	if got := tokenKid(t, fromA); got != next {
		t.Fatalf("server a signs with %s after activating %s", got, next)
	}
	for name, s := range map[string]oidcServer{"a": a, "b": b} {
		for what, token := range map[string]string{"the first token of the new key": fromA, "a token of the old key": oldToken} {
			if err := s.verify(t, token); err != nil {
				t.Errorf("%s does not verify with server %s's keys: %v", what, name, err)
			}
		}
	}
}
