package workloadapi

import (
	"context"
	"crypto"
	"errors"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/bundle/spiffebundle"
	"github.com/spiffe/go-spiffe/v2/proto/spiffe/workload"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/svid/jwtsvid"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/lanyard-dev/lanyard/agent/cache"
)

func TestCallsWithoutTheSecurityHeaderAreRejected(t *testing.T) {
	e := start(t)
	e.add("e1", "spiffe://example.org/web", nil, selfUID)
	conn, err := grpc.NewClient(e.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	c := workload.NewSpiffeWorkloadAPIClient(conn)
	tests := []struct {
		name string
		ctx  context.Context
		call func(ctx context.Context) error
	}{
		{"FetchX509SVID without the header", context.Background(), func(ctx context.Context) error {
			s, err := c.FetchX509SVID(ctx, &workload.X509SVIDRequest{})
			if err != nil {
				return err
			}
			_, err = s.Recv()
			return err
		}},
		{"FetchJWTSVID without the header", context.Background(), func(ctx context.Context) error {
			_, err := c.FetchJWTSVID(ctx, &workload.JWTSVIDRequest{Audience: []string{"db"}})
			return err
		}},
		{"ValidateJWTSVID with the header set to false", metadata.AppendToOutgoingContext(context.Background(), "workload.spiffe.io", "false"),
			func(ctx context.Context) error {
				_, err := c.ValidateJWTSVID(ctx, &workload.ValidateJWTSVIDRequest{Audience: "db", Svid: "x"})
				return err
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(tt.ctx, 10*time.Second)
			defer cancel()
			err := tt.call(ctx)
			if status.Code(err) != codes.InvalidArgument {
				t.Fatalf("got %v, want InvalidArgument", err)
			}
		})
	}
}

func TestWorkloadWithoutIdentityIsDenied(t *testing.T) {
	e := start(t)
	e.add("e1", "spiffe://example.org/other", nil, "uid:4242424")
	c := e.client()
	ctx := ctxT(t)
	tests := []struct {
		name string
		call func() error
	}{
		{"FetchX509Context", func() error { _, err := c.FetchX509Context(ctx); return err }},
		{"FetchX509Bundles", func() error { _, err := c.FetchX509Bundles(ctx); return err }},
		{"FetchJWTBundles", func() error { _, err := c.FetchJWTBundles(ctx); return err }},
		{"FetchJWTSVID", func() error { _, err := c.FetchJWTSVID(ctx, jwtsvid.Params{Audience: "db"}); return err }},
	}
	for _, tt := range tests {
		t.Run(tt.name+" answers PermissionDenied", func(t *testing.T) {
			if err := tt.call(); status.Code(err) != codes.PermissionDenied {
				t.Fatalf("got %v, want PermissionDenied", err)
			}
		})
	}
}

func TestUnauthenticatedVerifiersMayFetchBundlesWhenAllowed(t *testing.T) {
	e := start(t, func(c *Config) { c.AllowUnauthenticatedVerifiers = true })
	set, err := e.client().FetchX509Bundles(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	if b, ok := set.Get(td); !ok || !b.HasX509Authority(e.ca.cert) {
		t.Fatal("own bundle missing")
	}
}

func TestFetchX509ContextMatchesByUID(t *testing.T) {
	e := start(t)
	e.add("e2", "spiffe://example.org/web", func(ent *cache.Entry) { ent.Hint = "internal" }, selfUID)
	e.add("e1", "spiffe://example.org/admin", nil, selfUID, "gid:"+itoa(os.Getgid()))
	e.add("e3", "spiffe://example.org/not-me", nil, selfUID, "gid:4242424")

	x, err := e.client().FetchX509Context(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range x.SVIDs {
		got = append(got, s.ID.String())
	}
	// Sorted by SPIFFE ID: the first is the default SVID.
	if want := []string{"spiffe://example.org/admin", "spiffe://example.org/web"}; !slices.Equal(got, want) {
		t.Fatalf("SVIDs %q, want %q", got, want)
	}
	if x.SVIDs[1].Hint != "internal" {
		t.Fatalf("hint %q", x.SVIDs[1].Hint)
	}
	if x.DefaultSVID().ID.String() != "spiffe://example.org/admin" {
		t.Fatal("default SVID is not the first")
	}
	for _, s := range x.SVIDs {
		if _, _, err := x509svid.Verify(s.Certificates, x.Bundles); err != nil {
			t.Fatalf("SVID %s does not verify against the served bundle: %v", s.ID, err)
		}
		if !s.PrivateKey.Public().(interface{ Equal(crypto.PublicKey) bool }).Equal(s.Certificates[0].PublicKey) {
			t.Fatal("private key does not belong to the SVID")
		}
	}
}

func TestWatchFollowsRotationAndRemoval(t *testing.T) {
	e := start(t)
	e.add("e1", "spiffe://example.org/a", nil, selfUID)
	e.add("e2", "spiffe://example.org/b", nil, selfUID)
	w := newWatcher()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.client().WatchX509Context(ctx, w) }()
	defer func() { cancel(); <-done }()

	first := w.next(t)
	if len(first.SVIDs) != 2 {
		t.Fatalf("first update has %d SVIDs", len(first.SVIDs))
	}

	rotated := e.ca.svid(t, "e1", "spiffe://example.org/a")
	e.cache.UpdateSVIDs([]*cache.X509SVID{rotated})
	u := w.next(t)
	if u.SVIDs[0].Certificates[0].SerialNumber.Cmp(rotated.SerialNumber) != 0 {
		t.Fatal("the watcher did not get the rotated SVID")
	}

	e.cache.UpdateEntries(nil, []string{"e2"}, false)
	u = w.next(t)
	if len(u.SVIDs) != 1 || u.SVIDs[0].ID.String() != "spiffe://example.org/a" {
		t.Fatalf("after removing e2 the watcher holds %d SVIDs", len(u.SVIDs))
	}

	// The last identity gone: the stream ends with PermissionDenied, telling the client
	// to stop using its SVIDs.
	e.cache.UpdateEntries(nil, []string{"e1"}, false)
	select {
	case err := <-w.errs:
		if status.Code(err) != codes.PermissionDenied {
			t.Fatalf("watch error %v, want PermissionDenied", err)
		}
	case u := <-w.updates:
		t.Fatalf("got an update with %d SVIDs instead of PermissionDenied", len(u.SVIDs))
	case <-time.After(15 * time.Second):
		t.Fatal("no PermissionDenied after the last entry was removed")
	}
}

func TestFederatedBundlesOnlyForFederatingEntries(t *testing.T) {
	partner := spiffeid.RequireTrustDomainFromString("partner.test")
	tests := []struct {
		name          string
		federatesWith []string
		wantPartner   bool
	}{
		{"an entry federating with partner.test gets its bundle", []string{"partner.test"}, true},
		{"an entry that does not federate gets only the own bundle", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := start(t)
			p := newAuthority(t, partner)
			e.cache.SetFederatedBundles(map[spiffeid.TrustDomain]*spiffebundle.Bundle{partner: p.bundle()})
			e.add("e1", "spiffe://example.org/web", func(ent *cache.Entry) { ent.FederatesWith = tt.federatesWith }, selfUID)
			c := e.client()

			x, err := c.FetchX509Context(ctxT(t))
			if err != nil {
				t.Fatal(err)
			}
			if _, got := x.Bundles.Get(partner); got != tt.wantPartner {
				t.Fatalf("FetchX509SVID carries partner bundle: %v, want %v", got, tt.wantPartner)
			}
			xb, err := c.FetchX509Bundles(ctxT(t))
			if err != nil {
				t.Fatal(err)
			}
			if _, got := xb.Get(partner); got != tt.wantPartner || !xb.Has(td) {
				t.Fatalf("FetchX509Bundles partner %v own %v", got, xb.Has(td))
			}
			jb, err := c.FetchJWTBundles(ctxT(t))
			if err != nil {
				t.Fatal(err)
			}
			if _, got := jb.Get(partner); got != tt.wantPartner {
				t.Fatalf("FetchJWTBundles carries partner bundle: %v, want %v", got, tt.wantPartner)
			}
			// A partner's JWT-SVID validates only for workloads that federate with it.
			token := p.jwt(t, "spiffe://partner.test/client", []string{"web"}, time.Now().Add(time.Minute))
			_, err = c.ValidateJWTSVID(ctxT(t), token, "web")
			if (err == nil) != tt.wantPartner {
				t.Fatalf("validating a partner.test JWT-SVID: %v", err)
			}
		})
	}
}

func TestServeStopsStreamsAndRemovesTheSocket(t *testing.T) {
	e := start(t)
	e.add("e1", "spiffe://example.org/a", nil, selfUID)
	w := newWatcher()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = e.client().WatchX509Context(ctx, w) }()
	w.next(t)

	if fi, err := os.Stat(e.socket); err != nil || fi.Mode().Perm() != 0o777 {
		t.Fatalf("socket mode %v (%v), want 0777 so any workload can connect", fi.Mode().Perm(), err)
	}
	if err := e.stop(); err != nil {
		t.Fatalf("Serve returned %v after its context ended", err)
	}
	select {
	case err := <-w.errs:
		if status.Code(err) != codes.Unavailable {
			t.Fatalf("open stream ended with %v, want Unavailable", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("open stream did not end on shutdown")
	}
	if _, err := os.Stat(e.socket); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("socket file left behind: %v", err)
	}
}
