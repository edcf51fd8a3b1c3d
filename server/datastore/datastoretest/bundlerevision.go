package datastoretest

import (
	"errors"
	"testing"
	"time"

	"github.com/lanyard-dev/lanyard/server/datastore"
)

func revision(t *testing.T, s datastore.Store) int64 {
	t.Helper()
	rev, err := s.BundlesRevision(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return rev
}

// moves runs change and fails the test unless the bundles revision grew.
func moves(t *testing.T, s datastore.Store, what string, change func() error) {
	t.Helper()
	before := revision(t, s)
	if err := change(); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if after := revision(t, s); after <= before {
		t.Fatalf("%s left the bundles revision at %d (was %d): other servers would not notice the change", what, after, before)
	}
}

// staysAt runs change and fails the test if the bundles revision moved.
func staysAt(t *testing.T, s datastore.Store, what string, change func() error) {
	t.Helper()
	before := revision(t, s)
	_ = change()
	if after := revision(t, s); after != before {
		t.Fatalf("%s moved the bundles revision from %d to %d although no bundle changed", what, before, after)
	}
}

var bundleRevisionTests = map[string]func(t *testing.T, open Opener){
	"every bundle write moves the revision": func(t *testing.T, open Opener) {
		s := open(t)
		ctx := t.Context()
		moves(t, s, "CreateBundle", func() error { _, err := s.CreateBundle(ctx, bundle(t, "a.org")); return err })
		moves(t, s, "UpdateBundle", func() error {
			b := bundle(t, "a.org")
			b.RefreshHint = 60
			_, err := s.UpdateBundle(ctx, b, datastore.BundleMask{RefreshHint: true})
			return err
		})
		moves(t, s, "SetBundle", func() error { _, err := s.SetBundle(ctx, bundle(t, "b.org")); return err })
		moves(t, s, "AppendBundle", func() error {
			b := &datastore.Bundle{TrustDomain: "a.org", JWTAuthorities: []datastore.JWTKey{jwtKey(t, "k2", time.Now().Add(time.Hour).Unix())}}
			_, err := s.AppendBundle(ctx, b)
			return err
		})
		moves(t, s, "PruneBundle", func() error {
			b := &datastore.Bundle{TrustDomain: "a.org", JWTAuthorities: []datastore.JWTKey{jwtKey(t, "old", time.Now().Add(-time.Hour).Unix())}}
			if _, err := s.AppendBundle(ctx, b); err != nil {
				return err
			}
			before := revision(t, s)
			if changed, err := s.PruneBundle(ctx, "a.org", time.Now()); err != nil || !changed {
				return errors.Join(err, errors.New("nothing pruned"))
			}
			if revision(t, s) <= before {
				return errors.New("pruning did not move the revision")
			}
			return nil
		})
		moves(t, s, "TaintJWTKey", func() error { _, err := s.TaintJWTKey(ctx, "a.org", "k1"); return err })
		moves(t, s, "RevokeJWTKey", func() error { _, err := s.RevokeJWTKey(ctx, "a.org", "k1"); return err })
		moves(t, s, "DeleteBundle", func() error { return s.DeleteBundle(ctx, "b.org", datastore.DeleteRestrict) })
	},
	"reads and refused writes leave the revision alone": func(t *testing.T, open Opener) {
		s := open(t)
		ctx := t.Context()
		if _, err := s.CreateBundle(ctx, bundle(t, "a.org")); err != nil {
			t.Fatal(err)
		}
		staysAt(t, s, "reads", func() error {
			_, err1 := s.GetBundle(ctx, "a.org")
			_, _, err2 := s.ListBundles(ctx, datastore.Page{})
			return errors.Join(err1, err2)
		})
		staysAt(t, s, "a second CreateBundle", func() error { _, err := s.CreateBundle(ctx, bundle(t, "a.org")); return err })
		staysAt(t, s, "deleting an unknown bundle", func() error { return s.DeleteBundle(ctx, "nobody.org", datastore.DeleteRestrict) })
	},
	"federation writes move the revision": func(t *testing.T, open Opener) {
		s := open(t)
		fs := federationStore(t, s)
		ctx := t.Context()
		moves(t, s, "CreateFederationRelationship with a bundle", func() error {
			_, err := fs.CreateFederationRelationship(ctx, webRelationship("b.org"), bundle(t, "b.org"))
			return err
		})
		moves(t, s, "StoreFetchedBundle with new content", func() error {
			b := bundle(t, "b.org")
			b.RefreshHint = 120
			_, err := fs.StoreFetchedBundle(ctx, b)
			return err
		})
		moves(t, s, "DeleteFederationRelationship", func() error { return fs.DeleteFederationRelationship(ctx, "b.org") })
	},
	"the revision survives a reopen": func(t *testing.T, open Opener) {
		s := open(t)
		if _, err := s.CreateBundle(t.Context(), bundle(t, "a.org")); err != nil {
			t.Fatal(err)
		}
		before := revision(t, s)
		s.Close()
		s = open(t)
		if after := revision(t, s); after < before {
			t.Fatalf("revision went back from %d to %d over a reopen: a server polling it could miss a change", before, after)
		}
	},
}
