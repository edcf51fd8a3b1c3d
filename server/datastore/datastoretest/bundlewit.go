package datastoretest

import (
	"testing"
	"time"

	"github.com/lanyard-dev/lanyard/server/datastore"
)

// bundleWITTests: WIT-SVID signing keys are kept apart from JWT keys, through every
// bundle operation that touches keys.
var bundleWITTests = map[string]func(t *testing.T, open Opener){
	"WIT authorities are stored apart from JWT authorities": func(t *testing.T, open Opener) {
		s := open(t)
		in := bundle(t, "example.org")
		in.WITAuthorities = []datastore.JWTKey{jwtKey(t, "w1", time.Now().Add(time.Hour).Unix())}
		in.WITAuthorities[0].Tainted = true
		got, err := s.CreateBundle(t.Context(), in)
		if err != nil {
			t.Fatal(err)
		}
		sameBundle(t, got, in)
		sameBundle(t, mustGetBundle(t, s, "example.org"), in)
	},
	"append adds a new WIT key once and update replaces them under the mask": func(t *testing.T, open Opener) {
		s := open(t)
		if _, err := s.CreateBundle(t.Context(), bundle(t, "example.org")); err != nil {
			t.Fatal(err)
		}
		w := jwtKey(t, "w1", 0)
		for range 2 {
			if _, err := s.AppendBundle(t.Context(), &datastore.Bundle{TrustDomain: "example.org", WITAuthorities: []datastore.JWTKey{w}}); err != nil {
				t.Fatal(err)
			}
		}
		b := mustGetBundle(t, s, "example.org")
		if len(b.WITAuthorities) != 1 || b.WITAuthorities[0].KeyID != "w1" || len(b.JWTAuthorities) != 1 || b.SequenceNumber != 2 {
			t.Fatalf("after appending a WIT key twice: WIT %+v, %d JWT keys, sequence %d; want [w1], 1, 2", b.WITAuthorities, len(b.JWTAuthorities), b.SequenceNumber)
		}
		change := bundle(t, "example.org")
		change.WITAuthorities = []datastore.JWTKey{jwtKey(t, "w2", 0)}
		got, err := s.UpdateBundle(t.Context(), change, datastore.BundleMask{JWTAuthorities: true})
		if err != nil || len(got.WITAuthorities) != 1 || got.WITAuthorities[0].KeyID != "w1" {
			t.Fatalf("an update without the WIT mask changed WIT authorities to %+v (%v)", got.WITAuthorities, err)
		}
		got, err = s.UpdateBundle(t.Context(), change, datastore.BundleMask{WITAuthorities: true})
		if err != nil || len(got.WITAuthorities) != 1 || got.WITAuthorities[0].KeyID != "w2" {
			t.Fatalf("an update with the WIT mask left WIT authorities %+v (%v); want [w2]", got.WITAuthorities, err)
		}
	},
	"prune drops expired WIT keys": func(t *testing.T, open Opener) {
		s := open(t)
		now := time.Now()
		in := bundle(t, "example.org")
		in.WITAuthorities = []datastore.JWTKey{jwtKey(t, "old", now.Add(-time.Hour).Unix()), jwtKey(t, "new", now.Add(time.Hour).Unix())}
		if _, err := s.CreateBundle(t.Context(), in); err != nil {
			t.Fatal(err)
		}
		changed, err := s.PruneBundle(t.Context(), "example.org", now)
		if err != nil || !changed {
			t.Fatalf("PruneBundle = %v, %v; want true, nil", changed, err)
		}
		b := mustGetBundle(t, s, "example.org")
		if len(b.WITAuthorities) != 1 || b.WITAuthorities[0].KeyID != "new" || len(b.JWTAuthorities) != 1 {
			t.Fatalf("after prune: WIT %+v, %d JWT keys; want [new], 1", b.WITAuthorities, len(b.JWTAuthorities))
		}
	},
	"a WIT key is tainted, then revoked, and JWT keys of the same ID are untouched": func(t *testing.T, open Opener) {
		s := open(t)
		ctx := t.Context()
		in := bundle(t, "example.org")
		in.JWTAuthorities = []datastore.JWTKey{jwtKey(t, "old", 0)}
		in.WITAuthorities = []datastore.JWTKey{jwtKey(t, "old", 0), jwtKey(t, "new", 0)}
		if _, err := s.CreateBundle(ctx, in); err != nil {
			t.Fatal(err)
		}
		_, err := s.RevokeWITKey(ctx, "example.org", "old")
		wantErr(t, err, datastore.ErrConflict)
		got, err := s.TaintWITKey(ctx, "example.org", "old")
		if err != nil || !got.WITAuthorities[0].Tainted || got.WITAuthorities[1].Tainted || got.JWTAuthorities[0].Tainted {
			t.Fatalf("after taint: %+v (%v); want only the WIT key old tainted", got, err)
		}
		_, err = s.TaintWITKey(ctx, "example.org", "old")
		wantErr(t, err, datastore.ErrConflict)
		got, err = s.RevokeWITKey(ctx, "example.org", "old")
		if err != nil || len(got.WITAuthorities) != 1 || got.WITAuthorities[0].KeyID != "new" || len(got.JWTAuthorities) != 1 || got.SequenceNumber != in.SequenceNumber+2 {
			t.Fatalf("after revoke: %+v (%v); want WIT [new], the JWT key kept, sequence +2", got, err)
		}
		_, err = s.TaintWITKey(ctx, "example.org", "gone")
		wantErr(t, err, datastore.ErrNotFound)
	},
}
