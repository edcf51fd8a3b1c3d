package datastoretest

import (
	"slices"
	"testing"

	"github.com/lanyard-dev/lanyard/server/datastore"
)

// federationStore returns the store's FederationStore, skipping the test for backends
// that do not offer the capability.
func federationStore(t *testing.T, s datastore.Store) datastore.FederationStore {
	t.Helper()
	fs, ok := s.(datastore.FederationStore)
	if !ok {
		t.Skip("the store does not implement datastore.FederationStore")
	}
	return fs
}

func webRelationship(td string) *datastore.FederationRelationship {
	return &datastore.FederationRelationship{TrustDomain: td, BundleEndpointURL: "https://" + td + "/bundle", Profile: datastore.ProfileHTTPSWeb}
}

func spiffeRelationship(td string) *datastore.FederationRelationship {
	return &datastore.FederationRelationship{TrustDomain: td, BundleEndpointURL: "https://" + td + ":8443",
		Profile: datastore.ProfileHTTPSSPIFFE, EndpointSPIFFEID: "spiffe://" + td + "/spire/server"}
}

func sameRelationship(t *testing.T, got, want *datastore.FederationRelationship) {
	t.Helper()
	if got == nil {
		t.Fatal("relationship is nil")
	}
	if got.TrustDomain != want.TrustDomain || got.BundleEndpointURL != want.BundleEndpointURL ||
		got.Profile != want.Profile || got.EndpointSPIFFEID != want.EndpointSPIFFEID {
		t.Fatalf("relationship differs:\n got  %+v\n want %+v", got, want)
	}
}

var federationTests = map[string]func(t *testing.T, open Opener){
	"a created relationship reads back and survives a reopen": func(t *testing.T, open Opener) {
		s := open(t)
		fs := federationStore(t, s)
		want := spiffeRelationship("b.org")
		got, err := fs.CreateFederationRelationship(t.Context(), want, nil)
		if err != nil {
			t.Fatal(err)
		}
		sameRelationship(t, got, want)
		if got.CreatedAt == 0 || got.UpdatedAt == 0 {
			t.Fatalf("timestamps not set: %+v", got)
		}
		s.Close()
		fs = federationStore(t, open(t))
		got, err = fs.GetFederationRelationship(t.Context(), "b.org")
		if err != nil {
			t.Fatal(err)
		}
		sameRelationship(t, got, want)
	},
	"creating a second relationship for a trust domain fails with ErrAlreadyExists": func(t *testing.T, open Opener) {
		fs := federationStore(t, open(t))
		if _, err := fs.CreateFederationRelationship(t.Context(), webRelationship("b.org"), nil); err != nil {
			t.Fatal(err)
		}
		_, err := fs.CreateFederationRelationship(t.Context(), spiffeRelationship("b.org"), nil)
		wantErr(t, err, datastore.ErrAlreadyExists)
	},
	"creating with a bundle stores the bundle in the same call": func(t *testing.T, open Opener) {
		s := open(t)
		fs := federationStore(t, s)
		b := bundle(t, "b.org")
		if _, err := fs.CreateFederationRelationship(t.Context(), spiffeRelationship("b.org"), b); err != nil {
			t.Fatal(err)
		}
		sameBundle(t, mustGetBundle(t, s, "b.org"), b)
	},
	"a bundle for another trust domain is refused and nothing is stored": func(t *testing.T, open Opener) {
		s := open(t)
		fs := federationStore(t, s)
		if _, err := fs.CreateFederationRelationship(t.Context(), spiffeRelationship("b.org"), bundle(t, "c.org")); err == nil {
			t.Fatal("relationship with b.org accepted a bundle of c.org")
		}
		_, err := fs.GetFederationRelationship(t.Context(), "b.org")
		wantErr(t, err, datastore.ErrNotFound)
	},
	"an unknown relationship is ErrNotFound for get, update and delete": func(t *testing.T, open Opener) {
		fs := federationStore(t, open(t))
		_, err := fs.GetFederationRelationship(t.Context(), "nobody.org")
		wantErr(t, err, datastore.ErrNotFound)
		_, err = fs.UpdateFederationRelationship(t.Context(), webRelationship("nobody.org"), datastore.FederationRelationshipMask{BundleEndpointURL: true}, nil)
		wantErr(t, err, datastore.ErrNotFound)
		wantErr(t, fs.DeleteFederationRelationship(t.Context(), "nobody.org"), datastore.ErrNotFound)
	},
	"update changes only the masked fields": func(t *testing.T, open Opener) {
		fs := federationStore(t, open(t))
		if _, err := fs.CreateFederationRelationship(t.Context(), spiffeRelationship("b.org"), nil); err != nil {
			t.Fatal(err)
		}
		in := webRelationship("b.org")
		in.BundleEndpointURL = "https://new.b.org/bundle"
		got, err := fs.UpdateFederationRelationship(t.Context(), in, datastore.FederationRelationshipMask{BundleEndpointURL: true}, nil)
		if err != nil {
			t.Fatal(err)
		}
		want := spiffeRelationship("b.org")
		want.BundleEndpointURL = in.BundleEndpointURL
		sameRelationship(t, got, want)
		got, err = fs.UpdateFederationRelationship(t.Context(), in, datastore.FederationRelationshipMask{Profile: true}, nil)
		if err != nil {
			t.Fatal(err)
		}
		sameRelationship(t, got, in)
	},
	"list pages in trust domain order": func(t *testing.T, open Opener) {
		fs := federationStore(t, open(t))
		for _, td := range []string{"c.org", "a.org", "d.org", "b.org"} {
			if _, err := fs.CreateFederationRelationship(t.Context(), webRelationship(td), nil); err != nil {
				t.Fatal(err)
			}
		}
		var got []string
		token := ""
		for range 10 {
			page, next, err := fs.ListFederationRelationships(t.Context(), datastore.Page{Size: 3, Token: token})
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range page {
				got = append(got, r.TrustDomain)
			}
			if token = next; token == "" {
				break
			}
		}
		if want := []string{"a.org", "b.org", "c.org", "d.org"}; !slices.Equal(got, want) {
			t.Fatalf("listed %v, want %v", got, want)
		}
	},
	"delete removes the bundle but keeps entries federating with it": func(t *testing.T, open Opener) {
		s := open(t)
		fs := federationStore(t, s)
		if _, err := fs.CreateFederationRelationship(t.Context(), spiffeRelationship("a.org"), nil); err != nil {
			t.Fatal(err)
		}
		onlyA, _, _ := federationFixture(t, s)
		start := lastEventID(t, s)
		if err := fs.DeleteFederationRelationship(t.Context(), "a.org"); err != nil {
			t.Fatal(err)
		}
		_, err := s.GetBundle(t.Context(), "a.org")
		wantErr(t, err, datastore.ErrNotFound)
		mustGetBundle(t, s, "b.org")
		sameEntry(t, mustGetEntry(t, s, onlyA.ID), onlyA)
		wantEvents(t, s, start)
	},
	"a fetched bundle is stored only while the relationship exists": func(t *testing.T, open Opener) {
		s := open(t)
		fs := federationStore(t, s)
		_, err := fs.StoreFetchedBundle(t.Context(), bundle(t, "b.org"))
		wantErr(t, err, datastore.ErrNotFound)
		if _, err := s.GetBundle(t.Context(), "b.org"); err == nil {
			t.Fatal("a fetched bundle was stored without a relationship")
		}
		if _, err := fs.CreateFederationRelationship(t.Context(), webRelationship("b.org"), nil); err != nil {
			t.Fatal(err)
		}
		b := bundle(t, "b.org")
		changed, err := fs.StoreFetchedBundle(t.Context(), b)
		if err != nil || !changed {
			t.Fatalf("first fetched bundle: changed=%v err=%v, want stored", changed, err)
		}
		sameBundle(t, mustGetBundle(t, s, "b.org"), b)
	},
	"storing the same fetched content again changes nothing; new content moves the sequence forward": func(t *testing.T, open Opener) {
		s := open(t)
		fs := federationStore(t, s)
		if _, err := fs.CreateFederationRelationship(t.Context(), webRelationship("b.org"), nil); err != nil {
			t.Fatal(err)
		}
		b := bundle(t, "b.org")
		b.SequenceNumber = 7
		if _, err := fs.StoreFetchedBundle(t.Context(), b); err != nil {
			t.Fatal(err)
		}
		if changed, err := fs.StoreFetchedBundle(t.Context(), cloneBundle(t, b)); err != nil || changed {
			t.Fatalf("same content: changed=%v err=%v, want unchanged", changed, err)
		}
		next := bundle(t, "b.org") // new authorities, and a partner that does not number its bundles
		next.SequenceNumber = 0
		if changed, err := fs.StoreFetchedBundle(t.Context(), next); err != nil || !changed {
			t.Fatalf("new content: changed=%v err=%v, want stored", changed, err)
		}
		if got := mustGetBundle(t, s, "b.org").SequenceNumber; got != 8 {
			t.Fatalf("sequence number = %d, want 8 (one past the stored 7)", got)
		}
	},
}
