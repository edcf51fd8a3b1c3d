package ca

import (
	"bytes"
	"context"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/lanyard-dev/lanyard/server/datastore"
)

// An operator replaces a compromised upstream PKI: after a restart with the new upstream
// certificate, the old root cannot be tainted while it still signs the active CA; once a
// CA under the new upstream is prepared and activated, the old root is tainted in the
// bundle and then revoked from it. Local authority commands are refused under an upstream.
func TestUpstreamAuthorityIsTaintedAndRevokedAfterReplacement(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	load := func(name string) (*pki, *Upstream) {
		p := newPKI(t, time.Now().Add(12*time.Hour))
		dir := filepath.Join(f.dir, name)
		if err := os.Mkdir(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		certFile, keyFile, bundleFile := p.files(t, dir)
		up, err := LoadUpstream(certFile, keyFile, bundleFile, f.clock.Now())
		if err != nil {
			t.Fatal(err)
		}
		return p, up
	}
	oldPKI, oldUp := load("old")
	f.newCA(func(cfg *Config) { cfg.Upstream = oldUp })
	newPKI, newUp := load("new")
	c := f.newCA(func(cfg *Config) { cfg.Upstream = newUp }) // the restart
	oldRoot := hex.EncodeToString(oldPKI.root.SubjectKeyId)

	err := c.TaintX509Upstream(ctx, oldRoot)
	wantCAErr(t, err, ErrAuthorityState, "tainting the upstream root of the active CA")
	_, err = c.TaintX509(ctx, c.X509State().Active.ID)
	wantCAErr(t, err, ErrUpstreamSetup, "tainting a local authority under an upstream")

	prep, err := c.PrepareX509(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if prep.UpstreamID != hex.EncodeToString(newPKI.inter.SubjectKeyId) {
		t.Fatalf("the prepared CA's upstream authority is %s, want the new intermediate", prep.UpstreamID)
	}
	if _, err := c.ActivateX509(ctx, prep.ID); err != nil {
		t.Fatal(err)
	}
	err = c.RevokeX509Upstream(ctx, oldRoot)
	wantCAErr(t, err, datastore.ErrConflict, "revoking an untainted upstream root")
	if err := c.TaintX509Upstream(ctx, oldRoot); err != nil {
		t.Fatal(err)
	}
	tainted := func() (found, isTainted bool) {
		for _, a := range f.bundle().X509Authorities {
			if bytes.Equal(a.DER, oldPKI.root.Raw) {
				return true, a.Tainted
			}
		}
		return false, false
	}
	if found, is := tainted(); !found || !is {
		t.Fatalf("after taint the old root is in the bundle: %v, tainted: %v", found, is)
	}
	if err := c.RevokeX509Upstream(ctx, oldRoot); err != nil {
		t.Fatal(err)
	}
	if found, _ := tainted(); found {
		t.Fatal("the revoked upstream root is still in the bundle")
	}
	if err := c.Rotate(ctx); err != nil {
		t.Fatal(err)
	}
	if found, _ := tainted(); found {
		t.Fatal("rotation put the revoked upstream root back")
	}
}
