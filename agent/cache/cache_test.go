package cache

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"slices"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/bundle/jwtbundle"
	"github.com/spiffe/go-spiffe/v2/bundle/spiffebundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
)

// withSVIDs fills a cache with entries and an SVID for each.
func withSVIDs(t *testing.T, ca *testCA, entries ...*Entry) *Cache {
	t.Helper()
	c := New(td, nil, nil)
	c.SetBundle(ca.bundle())
	c.UpdateEntries(entries, nil, true)
	var svids []*X509SVID
	for _, e := range entries {
		svids = append(svids, ca.svid(t, e.ID, e.SPIFFEID))
	}
	c.UpdateSVIDs(svids)
	return c
}

func TestMatch(t *testing.T) {
	ca := newCA(t, td)
	tests := []struct {
		name     string
		entries  []*Entry
		workload []string
		want     []string
	}{
		{
			name:     "an entry matches when all its selectors are among the workload's",
			entries:  []*Entry{entry("e1", "spiffe://example.org/web", "unix:uid:1000", "unix:gid:1000")},
			workload: []string{"unix:uid:1000", "unix:gid:1000", "unix:user:web"},
			want:     []string{"e1"},
		},
		{
			name:     "an entry with a selector the workload lacks does not match",
			entries:  []*Entry{entry("e1", "spiffe://example.org/web", "unix:uid:1000", "unix:gid:50")},
			workload: []string{"unix:uid:1000", "unix:gid:1000"},
			want:     []string{},
		},
		{
			name:     "an entry without selectors matches nobody",
			entries:  []*Entry{entry("e1", "spiffe://example.org/web")},
			workload: []string{"unix:uid:1000"},
			want:     []string{},
		},
		{
			name: "identities are ordered by SPIFFE ID so the default SVID is stable",
			entries: []*Entry{
				entry("e1", "spiffe://example.org/zeta", "unix:uid:1000"),
				entry("e2", "spiffe://example.org/alpha", "unix:uid:1000", "unix:gid:1000"),
				entry("e0", "spiffe://example.org/mid", "unix:gid:1000"),
			},
			workload: []string{"unix:uid:1000", "unix:gid:1000"},
			want:     []string{"e2", "e0", "e1"},
		},
		{
			name: "the same selector type with another value does not count",
			entries: []*Entry{
				entry("e1", "spiffe://example.org/a", "unix:uid:1000"),
				entry("e2", "spiffe://example.org/b", "k8s:uid:1000"),
			},
			workload: []string{"k8s:uid:1000"},
			want:     []string{"e2"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := withSVIDs(t, ca, tt.entries...)
			u := c.Match(sels(tt.workload...))
			if got := ids(u); !slices.Equal(got, tt.want) {
				t.Fatalf("matched %q, want %q", got, tt.want)
			}
			if u.Bundle == nil || !u.Bundle.Bundle.Equal(ca.bundle()) {
				t.Fatal("update does not carry the trust bundle")
			}
		})
	}
}

func TestDuplicateHintsKeepTheFirstIdentity(t *testing.T) {
	ca := newCA(t, td)
	a := entry("e1", "spiffe://example.org/a", "unix:uid:1")
	b := entry("e2", "spiffe://example.org/b", "unix:uid:1")
	other := entry("e3", "spiffe://example.org/c", "unix:uid:1")
	a.Hint, b.Hint, other.Hint = "internal", "internal", "external"
	c := withSVIDs(t, ca, a, b, other)
	if got := ids(c.Match(sels("unix:uid:1"))); !slices.Equal(got, []string{"e1", "e3"}) {
		t.Fatalf("identities %q, want e1 and e3", got)
	}
}

func TestOnlyEntriesWithAnSVIDAreServed(t *testing.T) {
	ca := newCA(t, td)
	c := New(td, nil, nil)
	c.SetBundle(ca.bundle())
	c.UpdateEntries([]*Entry{entry("e1", "spiffe://example.org/a", "unix:uid:1"), entry("e2", "spiffe://example.org/b", "unix:uid:1")}, nil, false)
	if got := ids(c.Match(sels("unix:uid:1"))); len(got) != 0 {
		t.Fatalf("served %q before any SVID was minted", got)
	}
	c.UpdateSVIDs([]*X509SVID{ca.svid(t, "e2", "spiffe://example.org/b"), ca.svid(t, "gone", "spiffe://example.org/x")})
	if got := ids(c.Match(sels("unix:uid:1"))); !slices.Equal(got, []string{"e2"}) {
		t.Fatalf("served %q, want only e2", got)
	}
}

func TestEntryUpdates(t *testing.T) {
	ca := newCA(t, td)
	tests := []struct {
		name   string
		update func(c *Cache)
		want   []string
	}{
		{
			name: "a full update removes entries it does not list",
			update: func(c *Cache) {
				c.UpdateEntries([]*Entry{entry("e1", "spiffe://example.org/a", "unix:uid:1")}, nil, true)
			},
			want: []string{"e1"},
		},
		{
			name:   "an incremental update removes the deleted IDs only",
			update: func(c *Cache) { c.UpdateEntries(nil, []string{"e1"}, false) },
			want:   []string{"e2"},
		},
		{
			name: "an entry whose SPIFFE ID changed is not served until its new SVID arrives",
			update: func(c *Cache) {
				c.UpdateEntries([]*Entry{entry("e1", "spiffe://example.org/renamed", "unix:uid:1")}, nil, false)
			},
			want: []string{"e2"},
		},
		{
			name: "an entry whose selectors changed keeps its SVID and matches by the new selectors",
			update: func(c *Cache) {
				e := entry("e1", "spiffe://example.org/a", "unix:uid:1", "unix:gid:2")
				e.RevisionNumber = 2
				c.UpdateEntries([]*Entry{e}, nil, false)
			},
			want: []string{"e1", "e2"},
		},
		{
			name: "an SVID naming another SPIFFE ID than its entry is ignored",
			update: func(c *Cache) {
				c.UpdateEntries([]*Entry{entry("e1", "spiffe://example.org/renamed", "unix:uid:1")}, nil, false)
				c.UpdateSVIDs([]*X509SVID{ca.svid(t, "e1", "spiffe://example.org/a")})
			},
			want: []string{"e2"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := withSVIDs(t, ca, entry("e1", "spiffe://example.org/a", "unix:uid:1"), entry("e2", "spiffe://example.org/b", "unix:uid:1"))
			tt.update(c)
			if got := ids(c.Match(sels("unix:uid:1", "unix:gid:2"))); !slices.Equal(got, tt.want) {
				t.Fatalf("served %q, want %q", got, tt.want)
			}
		})
	}
}

func TestEntriesSnapshot(t *testing.T) {
	c := New(td, nil, nil)
	c.UpdateEntries([]*Entry{entry("b", "spiffe://example.org/b", "x:1"), entry("a", "spiffe://example.org/a", "x:1")}, nil, true)
	got := c.Entries()
	if len(got) != 2 || got[0].ID != "a" || got[1].ID != "b" {
		t.Fatalf("Entries() = %v", got)
	}
}

func TestFederatedBundlesFollowTheMatchedEntries(t *testing.T) {
	ca := newCA(t, td)
	partner := spiffeid.RequireTrustDomainFromString("partner.test")
	unrelated := spiffeid.RequireTrustDomainFromString("unrelated.test")
	fed := entry("e1", "spiffe://example.org/a", "unix:uid:1")
	fed.FederatesWith = []string{"spiffe://partner.test", "not a domain!"}
	plain := entry("e2", "spiffe://example.org/b", "unix:uid:2")
	c := withSVIDs(t, ca, fed, plain)
	c.SetFederatedBundles(map[spiffeid.TrustDomain]*spiffebundle.Bundle{
		partner:   newCA(t, partner).bundle(),
		unrelated: newCA(t, unrelated).bundle(),
	})

	u := c.Match(sels("unix:uid:1"))
	if len(u.FederatedBundles) != 1 || u.FederatedBundles[partner] == nil {
		t.Fatalf("federating workload got bundles for %v, want only partner.test", keys(u.FederatedBundles))
	}
	if u := c.Match(sels("unix:uid:2")); len(u.FederatedBundles) != 0 {
		t.Fatalf("non-federating workload got bundles for %v", keys(u.FederatedBundles))
	}
}

func keys(m map[spiffeid.TrustDomain]*Bundle) []string {
	var out []string
	for td := range m {
		out = append(out, td.Name())
	}
	return out
}

func TestSetBundleRefusesAnotherTrustDomain(t *testing.T) {
	c := New(td, nil, nil)
	c.SetBundle(newCA(t, spiffeid.RequireTrustDomainFromString("evil.test")).bundle())
	if own, _ := c.Bundles(); own != nil {
		t.Fatal("accepted a foreign bundle as the agent's own")
	}
}

func TestBundleWireForms(t *testing.T) {
	ca := newCA(t, td)
	b := ca.bundle()
	jwtKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err := b.AddJWTAuthority("kid1", jwtKey.Public()); err != nil {
		t.Fatal(err)
	}
	c := New(td, nil, nil)
	c.SetBundle(b)
	b.AddX509Authority(newCA(t, td).cert) // the caller's later changes must not leak in
	own, _ := c.Bundles()
	certs, err := x509.ParseCertificates(own.X509DER)
	if err != nil || len(certs) != 1 || !certs[0].Equal(ca.cert) {
		t.Fatalf("X509DER holds %d certificates (err %v), want the one CA", len(certs), err)
	}
	jb, err := jwtbundle.Parse(td, own.JWKS)
	if err != nil || !jb.HasJWTAuthority("kid1") || len(jb.JWTAuthorities()) != 1 {
		t.Fatalf("JWKS does not hold exactly the JWT authority kid1: %s (%v)", own.JWKS, err)
	}
}

func TestNewX509SVIDRejectsMismatches(t *testing.T) {
	ca := newCA(t, td)
	chain, key := ca.chain(t, "spiffe://example.org/a")
	good, err := NewX509SVID("e1", spiffeid.RequireFromString("spiffe://example.org/a"), chain, key, "")
	if err != nil {
		t.Fatal(err)
	}
	otherKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tests := []struct {
		name string
		make func() error
	}{
		{"a key that is not the leaf's is rejected", func() error {
			_, err := NewX509SVID("e1", good.ID, chain, otherKey, "")
			return err
		}},
		{"a leaf naming another SPIFFE ID is rejected", func() error {
			_, err := NewX509SVID("e1", spiffeid.RequireFromString("spiffe://example.org/b"), chain, key, "")
			return err
		}},
		{"an empty chain is rejected", func() error {
			_, err := NewX509SVID("e1", good.ID, nil, key, "")
			return err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.make() == nil {
				t.Fatal("accepted")
			}
		})
	}
	parsed, err := x509.ParsePKCS8PrivateKey(good.KeyDER)
	if err != nil || !parsed.(*ecdsa.PrivateKey).Equal(key) {
		t.Fatalf("KeyDER is not the PKCS#8 form of the key: %v", err)
	}
}

func TestExpiredSVIDsAreNeverServed(t *testing.T) {
	ca := newCA(t, td)
	c := withSVIDs(t, ca, entry("e1", "spiffe://example.org/a", "unix:uid:1"))
	svid := c.Match(sels("unix:uid:1")).Identities[0].SVID
	c.now = func() time.Time { return svid.ExpiresAt.Add(-time.Second) }
	if got := ids(c.Match(sels("unix:uid:1"))); len(got) != 1 {
		t.Fatalf("a valid SVID was not served: %q", got)
	}
	c.now = func() time.Time { return svid.ExpiresAt }
	if got := ids(c.Match(sels("unix:uid:1"))); len(got) != 0 {
		t.Fatalf("served %q after its SVID expired (server unreachable too long)", got)
	}
}

func TestCountsSeeEntriesAndCurrentSVIDs(t *testing.T) {
	ca := newCA(t, td)
	c := withSVIDs(t, ca, entry("e1", "spiffe://example.org/a", "unix:uid:1"))
	c.UpdateEntries([]*Entry{entry("e2", "spiffe://example.org/b", "unix:uid:2")}, nil, false)
	if n, s := c.Counts(); n != 2 || s != 1 {
		t.Fatalf("Counts() = %d entries, %d SVIDs; want 2, 1", n, s)
	}
	svid := c.Match(sels("unix:uid:1")).Identities[0].SVID
	c.now = func() time.Time { return svid.ExpiresAt }
	if _, s := c.Counts(); s != 0 {
		t.Fatalf("an expired SVID was counted as current")
	}
}
