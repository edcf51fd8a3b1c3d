package cli

import (
	"crypto"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/spiffe/go-spiffe/v2/exp/svid/witsvid"
	bundlev1 "github.com/spiffe/spire-api-sdk/proto/spire/api/server/bundle/v1"

	"github.com/lanyard-dev/lanyard/internal/bundleconv"
)

// checkWIT verifies token against the server's bundle with go-spiffe and that its cnf.jwk
// is the public half of the printed private JWK.
func (h *harness) checkWIT(t *testing.T, token, keyJWK string) *witsvid.SVID {
	t.Helper()
	b, err := bundlev1.NewBundleClient(h.srv.Admin).GetBundle(t.Context(), &bundlev1.GetBundleRequest{})
	if err != nil {
		t.Fatal(err)
	}
	sb, err := bundleconv.ToSPIFFE(b)
	if err != nil {
		t.Fatal(err)
	}
	svid, err := witsvid.ParseAndValidate(strings.TrimSpace(token), sb)
	if err != nil {
		t.Fatalf("the minted WIT-SVID does not verify: %v", err)
	}
	var key jose.JSONWebKey
	if err := key.UnmarshalJSON([]byte(keyJWK)); err != nil || key.IsPublic() {
		t.Fatalf("private key %q is not a private JWK: %v", keyJWK, err)
	}
	if !key.Public().Key.(interface{ Equal(crypto.PublicKey) bool }).Equal(svid.PublicKey) {
		t.Fatal("the WIT-SVID's cnf.jwk is not the printed key's")
	}
	return svid
}

func TestWITMintPrintsAVerifiableTokenAndItsKey(t *testing.T) {
	h := newHarness(t)
	r := h.run("wit", "mint", "-spiffeID", "spiffe://example.org/db", "-ttl", "10m", "-output", "json").wantOK(t)
	var doc struct {
		PrivateKey string `json:"private_key"`
		SVID       struct {
			Token     string `json:"token"`
			ExpiresAt string `json:"expires_at"`
			ID        struct {
				Path string `json:"path"`
			} `json:"id"`
		} `json:"svid"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil {
		t.Fatalf("-output json: %v\n%s", err, r.stdout)
	}
	svid := h.checkWIT(t, doc.SVID.Token, doc.PrivateKey)
	if doc.SVID.ID.Path != "/db" || svid.Expiry.Sub(h.srv.Clock.Now()) != 10*time.Minute {
		t.Fatalf("minted %s expiring %s; want /db for -ttl 10m", svid.ID, svid.Expiry)
	}

	lines := strings.Split(strings.TrimSpace(h.run("wit", "mint", "-spiffeID", "spiffe://example.org/db", "-keyType", "rsa-2048", "-signingAlgorithm", "PS256").wantOK(t).stdout), "\n")
	if len(lines) != 2 {
		t.Fatalf("pretty output %q; want the token, then the key", lines)
	}
	h.checkWIT(t, lines[0], lines[1])

	dir := filepath.Join(t.TempDir(), "out")
	h.run("wit", "mint", "-spiffeID", "spiffe://example.org/db", "-ttl", "600", "-write", dir).wantOK(t)
	token, _ := os.ReadFile(filepath.Join(dir, "token"))
	key, _ := os.ReadFile(filepath.Join(dir, "key"))
	h.checkWIT(t, string(token), string(key))
	if st, err := os.Stat(filepath.Join(dir, "key")); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v %v; want mode 0600", st, err)
	}
}

func TestWITMintRefusesWhatTheSpecDoesNotAllow(t *testing.T) {
	h := newUnreachable(t)
	for name, tt := range map[string]struct {
		args []string
		want string
	}{
		"an algorithm that does not fit the key": {[]string{"-spiffeID", "spiffe://example.org/db", "-signingAlgorithm", "ES384"}, "-signingAlgorithm \"ES384\" does not fit -keyType ec-p256"},
		"an unknown key type":                    {[]string{"-spiffeID", "spiffe://example.org/db", "-keyType", "ed25519"}, "-keyType \"ed25519\""},
		"no SPIFFE ID":                           {nil, "-spiffeID \"\" is not a SPIFFE ID"},
	} {
		r := h.run(append([]string{"wit", "mint"}, tt.args...)...)
		if r.code != 1 || !strings.Contains(r.stderr, tt.want) {
			t.Errorf("%s: exit %d, stderr %q; want %q", name, r.code, r.stderr, tt.want)
		}
	}
}

func TestLocalAuthorityWITCommandsRotateTheWITKey(t *testing.T) {
	h := newHarness(t)
	show := h.run("localauthority", "wit", "show").wantOK(t).stdout
	if !strings.Contains(show, "Active WIT authority:\n  Authority ID: ") || !strings.Contains(show, "No prepared WIT authority found") {
		t.Fatalf("wit show:\n%s", show)
	}
	prep := h.run("localauthority", "wit", "prepare", "-output", "json").wantOK(t).stdout
	var doc struct {
		PreparedAuthority struct {
			AuthorityID string `json:"authority_id"`
		} `json:"prepared_authority"`
	}
	if err := json.Unmarshal([]byte(prep), &doc); err != nil || doc.PreparedAuthority.AuthorityID == "" {
		t.Fatalf("wit prepare -output json: %q (%v)", prep, err)
	}
	act := h.run("localauthority", "wit", "activate", "-authorityID", doc.PreparedAuthority.AuthorityID).wantOK(t).stdout
	if !strings.HasPrefix(act, "Activated WIT authority:\n  Authority ID: "+doc.PreparedAuthority.AuthorityID) {
		t.Fatalf("wit activate:\n%s", act)
	}
	h.run("localauthority", "wit", "taint", "-authorityID", "nope").wantError(t, "no wit authority \"nope\"")
}
