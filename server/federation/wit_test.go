package federation

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/spiffe/spire-api-sdk/proto/spire/api/types"

	"github.com/lanyard-dev/lanyard/internal/poll"
	"github.com/lanyard-dev/lanyard/server/datastore"
)

// A trust domain's WIT-SVID keys travel to partners in its SPIFFE bundle as JWKs with
// "use": "wit-svid" (WIT-SVID spec 6.1), and a partner keeps them apart from its JWT keys.
func TestWITAuthoritiesTravelToPartnersWithUseWITSVID(t *testing.T) {
	own := &ownBundle{}
	own.set(partnerTD.Name(), 1, newTestCA(t, partnerTD.Name()))
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.MarshalPKIXPublicKey(key.Public())
	own.b.WitAuthorities = []*types.WITKey{{KeyId: "wit-1", PublicKey: der}}
	url, pool, _ := webPartner(t, own, time.Second)

	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	resp, err := client.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var doc struct {
		Keys []map[string]any `json:"keys"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
		t.Fatal(err)
	}
	uses := map[string]string{}
	for _, k := range doc.Keys {
		kid, _ := k["kid"].(string)
		uses[k["use"].(string)] = kid
	}
	if uses["wit-svid"] != "wit-1" || len(doc.Keys) != 2 {
		t.Fatalf("served keys %v; want the X.509 authority and wit-1 with use wit-svid", doc.Keys)
	}

	store := openStore(t)
	if _, err := store.CreateFederationRelationship(t.Context(), &datastore.FederationRelationship{
		TrustDomain: partnerTD.Name(), BundleEndpointURL: url, Profile: datastore.ProfileHTTPSWeb}, nil); err != nil {
		t.Fatal(err)
	}
	runRefresher(t, RefresherConfig{Store: store, WebPKIRoots: pool})
	poll.Until(t, 20*time.Second, "the partner's bundle to be stored", func() bool { return storedCAs(t, store) == 1 })
	b, err := store.GetBundle(t.Context(), partnerTD.Name())
	if err != nil {
		t.Fatal(err)
	}
	if len(b.WITAuthorities) != 1 || b.WITAuthorities[0].KeyID != "wit-1" || len(b.JWTAuthorities) != 0 {
		t.Fatalf("stored partner bundle: WIT %+v, JWT %+v; want wit-1 as a WIT authority only", b.WITAuthorities, b.JWTAuthorities)
	}
}
