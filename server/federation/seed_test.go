package federation

import (
	"log/slog"
	"testing"

	"github.com/lanyard-dev/lanyard/server/datastore"
)

func TestApplySeedsCreatesUpdatesAndNeverOverwritesAFetchedBundle(t *testing.T) {
	store := openStore(t)
	log := slog.New(slog.DiscardHandler)
	ca1, ca2 := newTestCA(t, partnerTD.Name()), newTestCA(t, partnerTD.Name())
	seed := Seed{
		Relationship: datastore.FederationRelationship{TrustDomain: partnerTD.Name(), BundleEndpointURL: "https://partner.org/",
			Profile: datastore.ProfileHTTPSSPIFFE, EndpointSPIFFEID: "spiffe://partner.org/spire/server"},
		Bootstrap: &datastore.Bundle{TrustDomain: partnerTD.Name(), X509Authorities: []datastore.X509Authority{{DER: ca1.cert.Raw}}},
	}
	if err := ApplySeeds(t.Context(), store, []Seed{seed}, log); err != nil {
		t.Fatal(err)
	}
	if storedCAs(t, store) != 1 {
		t.Fatal("the bootstrap bundle was not stored with the new relationship")
	}
	// A fetch replaced the bundle since; a restart with a changed URL must keep it.
	if _, err := store.StoreFetchedBundle(t.Context(), &datastore.Bundle{TrustDomain: partnerTD.Name(),
		X509Authorities: []datastore.X509Authority{{DER: ca1.cert.Raw}, {DER: ca2.cert.Raw}}}); err != nil {
		t.Fatal(err)
	}
	seed.Relationship.BundleEndpointURL = "https://moved.partner.org/"
	if err := ApplySeeds(t.Context(), store, []Seed{seed}, log); err != nil {
		t.Fatal(err)
	}
	rel, err := store.GetFederationRelationship(t.Context(), partnerTD.Name())
	if err != nil || rel.BundleEndpointURL != "https://moved.partner.org/" {
		t.Fatalf("relationship after the config changed: %+v, %v", rel, err)
	}
	if n := storedCAs(t, store); n != 2 {
		t.Fatalf("the fetched bundle (2 CAs) was replaced by the bootstrap file: now %d CAs", n)
	}
}
