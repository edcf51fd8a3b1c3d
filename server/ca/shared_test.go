package ca

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"

	"github.com/lanyard-dev/lanyard/server/keymanager"
)

// Servers sharing a datastore each keep their own CA (own key manager, own journal) and
// publish it into the one bundle; a rotation by one must never drop the other's authorities.
func TestServersSharingADatastorePublishEachOthersCAs(t *testing.T) {
	f := newFixture(t)
	cas := make([]*CA, 2)
	for i, id := range []string{"s1", "s2"} {
		km, err := keymanager.NewDisk(filepath.Join(f.dir, id, "keys"))
		if err != nil {
			t.Fatal(err)
		}
		cas[i] = f.newCA(func(cfg *Config) { cfg.ServerID, cfg.KeyManager = id, km })
	}
	if cas[0].X509Authorities()[0].Equal(cas[1].X509Authorities()[0]) {
		t.Fatal("the second server reused the first server's CA")
	}
	// Step through three CA lifetimes (6h each) in 30 minute steps, the servers rotating in
	// turn, and check at every step that what either signs verifies against the bundle.
	for step := range 36 {
		f.clock.SetTime(f.clock.Now().Add(30 * time.Minute))
		for _, c := range cas {
			if err := c.Rotate(context.Background()); err != nil {
				t.Fatalf("step %d: %v", step, err)
			}
		}
		x509b, jwtb := f.x509Bundle(), f.jwtBundle()
		for i, c := range cas {
			if _, _, err := x509svid.Verify(f.sign(c, "/web", time.Minute), x509b, x509svid.WithTime(f.clock.Now())); err != nil {
				t.Fatalf("step %d: an X.509-SVID of server %d does not verify against the shared bundle: %v", step, i+1, err)
			}
			for _, a := range c.X509Authorities() {
				if !x509b.HasX509Authority(a) {
					t.Fatalf("step %d: server %d's live CA (expires %s) is missing from the shared bundle", step, i+1, a.NotAfter)
				}
			}
			token, _, err := c.SignJWTSVID(context.Background(), JWTSVIDParams{ID: spiffeid.RequireFromPath(td, "/web"),
				Audience: []string{"a"}, TTL: time.Minute})
			if err != nil {
				t.Fatal(err)
			}
			// The signature only: go-spiffe would check the fake clock's times against the real one.
			jws, err := jose.ParseSigned(token, []jose.SignatureAlgorithm{jose.ES256})
			if err != nil {
				t.Fatal(err)
			}
			key, ok := jwtb.FindJWTAuthority(jws.Signatures[0].Header.KeyID)
			if !ok {
				t.Fatalf("step %d: server %d's JWT key is missing from the shared bundle", step, i+1)
			}
			if _, err := jws.Verify(key); err != nil {
				t.Fatalf("step %d: a JWT-SVID of server %d does not verify with the shared bundle's key: %v", step, i+1, err)
			}
		}
	}
}
