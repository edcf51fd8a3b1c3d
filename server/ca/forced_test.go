package ca

import (
	"context"
	"encoding/hex"
	"errors"
	"testing"

	"github.com/lanyard-dev/lanyard/server/datastore"
)

// An operator rotates by hand: prepare publishes a new CA and JWT key, activate signs with
// them, taint marks the old ones in the bundle, revoke removes them and deletes their keys.
// Each step refuses what does not fit the authority's state, saying what to do instead.
func TestForcedRotationStepByStep(t *testing.T) {
	f := newFixture(t)
	c := f.newCA()
	ctx := context.Background()
	first := c.X509State().Active
	firstJWT := c.JWTState().Active
	if first == nil || firstJWT == nil || c.X509State().Prepared != nil || c.X509State().Old != nil {
		t.Fatalf("a new CA's state = %+v, want only an active authority", c.X509State())
	}
	if got := hex.EncodeToString(c.X509Authorities()[0].SubjectKeyId); got != first.ID {
		t.Fatalf("X.509 authority ID %s is not the CA certificate's subject key ID %s", first.ID, got)
	}
	_, err := c.TaintX509(ctx, first.ID)
	wantCAErr(t, err, ErrAuthorityState, "tainting the active authority")
	_, err = c.TaintX509(ctx, "00ff")
	wantCAErr(t, err, ErrAuthorityNotFound, "tainting an unknown authority")

	prep, err := c.PrepareX509(ctx)
	if err != nil {
		t.Fatal(err)
	}
	prepJWT, err := c.PrepareJWT(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !f.x509Bundle().HasX509Authority(c.X509Authorities()[1]) {
		t.Fatal("the prepared CA is not in the bundle")
	}
	if _, ok := f.jwtBundle().FindJWTAuthority(prepJWT.ID); !ok {
		t.Fatal("the prepared JWT key is not in the bundle")
	}
	_, err = c.TaintX509(ctx, prep.ID)
	wantCAErr(t, err, ErrAuthorityState, "tainting the prepared authority")
	_, err = c.ActivateX509(ctx, first.ID)
	wantCAErr(t, err, ErrAuthorityState, "activating the active authority")

	if _, err := c.ActivateX509(ctx, prep.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ActivateJWT(ctx, prepJWT.ID); err != nil {
		t.Fatal(err)
	}
	st := c.X509State()
	if st.Active.ID != prep.ID || st.Old == nil || st.Old.ID != first.ID {
		t.Fatalf("after activate: %+v, want %s active and %s old", st, prep.ID, first.ID)
	}
	if got := hex.EncodeToString(f.sign(c, "/web", 60e9)[0].AuthorityKeyId); got != prep.ID {
		t.Fatalf("a new SVID is signed by %s, want the activated %s", got, prep.ID)
	}

	_, err = c.RevokeX509(ctx, first.ID)
	wantCAErr(t, err, datastore.ErrConflict, "revoking an untainted authority")
	if _, err := c.TaintX509(ctx, first.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := c.TaintJWT(ctx, firstJWT.ID); err != nil {
		t.Fatal(err)
	}
	b := f.bundle()
	tainted := 0
	for _, a := range b.X509Authorities {
		if a.Tainted {
			tainted++
		}
	}
	if tainted != 1 || len(b.X509Authorities) != 2 {
		t.Fatalf("after taint the bundle has %d authorities, %d tainted; want 2, 1", len(b.X509Authorities), tainted)
	}
	before := len(f.keyFiles())
	if _, err := c.RevokeX509(ctx, first.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := c.RevokeJWT(ctx, firstJWT.ID); err != nil {
		t.Fatal(err)
	}
	b = f.bundle()
	if len(b.X509Authorities) != 1 || len(b.JWTAuthorities) != 1 || b.X509Authorities[0].Tainted {
		t.Fatalf("after revoke the bundle holds %d CAs and %d JWT keys, want the active one of each", len(b.X509Authorities), len(b.JWTAuthorities))
	}
	if got := len(f.keyFiles()); got != before-2 {
		t.Fatalf("revoking left %d key files, want %d (the revoked keys deleted)", got, before-2)
	}
	if c.X509State().Old != nil {
		t.Fatalf("the revoked CA is still this server's old authority: %+v", c.X509State().Old)
	}
	// A rotation afterwards does not bring the revoked CA back into the bundle.
	if err := c.Rotate(ctx); err != nil {
		t.Fatal(err)
	}
	if n := len(f.bundle().X509Authorities); n != 1 {
		t.Fatalf("rotation re-published a revoked CA: %d authorities", n)
	}
	if err := c.TaintX509Upstream(ctx, first.ID); !errors.Is(err, ErrUpstreamSetup) {
		t.Fatalf("tainting an upstream authority without one: %v, want ErrUpstreamSetup", err)
	}
}

func wantCAErr(t *testing.T, err, target error, what string) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("%s: error = %v, want %v", what, err, target)
	}
	t.Logf("%s: %v", what, err)
}

// When the datastore fails mid-operation the CA keeps the state its saved journal has:
// nothing half-activated signs.
func TestFailedActivationChangesNothing(t *testing.T) {
	f := newFixture(t)
	c := f.newCA()
	ctx := context.Background()
	first := c.X509State().Active.ID
	prep, err := c.PrepareX509(ctx)
	if err != nil {
		t.Fatal(err)
	}
	f.store.Close()
	if _, err := c.ActivateX509(ctx, prep.ID); err == nil {
		t.Fatal("activation succeeded without a datastore")
	}
	st := c.X509State()
	if st.Active.ID != first || st.Prepared == nil || st.Prepared.ID != prep.ID {
		t.Fatalf("after a failed activation: %+v, want %s still active and %s prepared", st, first, prep.ID)
	}
	if got := hex.EncodeToString(f.sign(c, "/web", 60e9)[0].AuthorityKeyId); got != first {
		t.Fatalf("after a failed activation SVIDs are signed by %s, want %s", got, first)
	}
}
