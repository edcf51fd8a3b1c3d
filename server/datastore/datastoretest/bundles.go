package datastoretest

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"net/url"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/lanyard-dev/lanyard/server/datastore"
)

// caCert returns the DER of a fresh self-signed CA certificate valid until notAfter.
func caCert(t *testing.T, trustDomain string, notAfter time.Time) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, err := rand.Int(rand.Reader, big.NewInt(1<<62))
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial, Subject: pkix.Name{Organization: []string{"lanyard test"}},
		NotBefore: notAfter.Add(-48 * time.Hour), NotAfter: notAfter,
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		URIs: []*url.URL{{Scheme: "spiffe", Host: trustDomain}},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// jwtKey returns a JWT authority with a real PKIX public key.
func jwtKey(t *testing.T, kid string, expiresAt int64) datastore.JWTKey {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return datastore.JWTKey{KeyID: kid, PublicKey: pub, ExpiresAt: expiresAt}
}

func bundle(t *testing.T, trustDomain string) *datastore.Bundle {
	return &datastore.Bundle{
		TrustDomain:     trustDomain,
		X509Authorities: []datastore.X509Authority{{DER: caCert(t, trustDomain, time.Now().Add(24*time.Hour))}},
		JWTAuthorities:  []datastore.JWTKey{jwtKey(t, "k1", time.Now().Add(24*time.Hour).Unix())},
		RefreshHint:     300,
		SequenceNumber:  1,
	}
}

func sameBundle(t *testing.T, got, want *datastore.Bundle) {
	t.Helper()
	if got == nil || !reflect.DeepEqual(*got, *want) {
		t.Fatalf("bundle differs:\n got  %+v\n want %+v", got, want)
	}
}

func mustGetBundle(t *testing.T, s datastore.Store, trustDomain string) *datastore.Bundle {
	t.Helper()
	b, err := s.GetBundle(t.Context(), trustDomain)
	if err != nil {
		t.Fatalf("GetBundle(%s): %v", trustDomain, err)
	}
	return b
}

var bundleTests = map[string]func(t *testing.T, open Opener){
	"create stores the bundle and a second create is ErrAlreadyExists": func(t *testing.T, open Opener) {
		s := open(t)
		in := bundle(t, "example.org")
		in.X509Authorities[0].Tainted = true
		in.JWTAuthorities[0].Tainted = true
		got, err := s.CreateBundle(t.Context(), in)
		if err != nil {
			t.Fatal(err)
		}
		sameBundle(t, got, in)
		sameBundle(t, mustGetBundle(t, s, "example.org"), in)
		_, err = s.CreateBundle(t.Context(), bundle(t, "example.org"))
		wantErr(t, err, datastore.ErrAlreadyExists)
		sameBundle(t, mustGetBundle(t, s, "example.org"), in)
	},
	"GetBundle of an unknown trust domain is ErrNotFound": func(t *testing.T, open Opener) {
		_, err := open(t).GetBundle(t.Context(), "nowhere.org")
		wantErr(t, err, datastore.ErrNotFound)
	},
	"returned bundles are copies the caller may modify": func(t *testing.T, open Opener) {
		s := open(t)
		in := bundle(t, "example.org")
		want := cloneBundle(t, in)
		got, err := s.CreateBundle(t.Context(), in)
		if err != nil {
			t.Fatal(err)
		}
		in.X509Authorities[0].DER[0] ^= 0xff
		got.X509Authorities[0].DER[0] ^= 0xff
		mustGetBundle(t, s, "example.org").JWTAuthorities[0].KeyID = "changed"
		sameBundle(t, mustGetBundle(t, s, "example.org"), want)
	},
	"update changes only the masked fields": func(t *testing.T, open Opener) {
		s := open(t)
		orig := bundle(t, "example.org")
		if _, err := s.CreateBundle(t.Context(), orig); err != nil {
			t.Fatal(err)
		}
		change := bundle(t, "example.org")
		change.RefreshHint, change.SequenceNumber = 60, 42
		got, err := s.UpdateBundle(t.Context(), change, datastore.BundleMask{JWTAuthorities: true, RefreshHint: true})
		if err != nil {
			t.Fatal(err)
		}
		want := cloneBundle(t, orig)
		want.JWTAuthorities, want.RefreshHint = change.JWTAuthorities, 60
		sameBundle(t, got, want)
		sameBundle(t, mustGetBundle(t, s, "example.org"), want)
		_, err = s.UpdateBundle(t.Context(), bundle(t, "other.org"), datastore.BundleMask{RefreshHint: true})
		wantErr(t, err, datastore.ErrNotFound)
	},
	"set creates a bundle and then replaces it": func(t *testing.T, open Opener) {
		s := open(t)
		first, second := bundle(t, "example.org"), bundle(t, "example.org")
		second.SequenceNumber = 9
		for _, b := range []*datastore.Bundle{first, second} {
			got, err := s.SetBundle(t.Context(), b)
			if err != nil {
				t.Fatal(err)
			}
			sameBundle(t, got, b)
			sameBundle(t, mustGetBundle(t, s, "example.org"), b)
		}
	},
	"bundles list in trust domain order, page by page, and count": func(t *testing.T, open Opener) {
		s := open(t)
		var want []string
		for i := range 5 {
			name := fmt.Sprintf("td%d.org", 4-i)
			if _, err := s.CreateBundle(t.Context(), bundle(t, name)); err != nil {
				t.Fatal(err)
			}
			want = append(want, name)
		}
		slices.Sort(want)
		var got []string
		token := ""
		for pages := 0; ; pages++ {
			if pages > 3 {
				t.Fatal("paging 5 bundles by 2 took more than 3 pages")
			}
			page, next, err := s.ListBundles(t.Context(), datastore.Page{Size: 2, Token: token})
			if err != nil {
				t.Fatal(err)
			}
			for _, b := range page {
				got = append(got, b.TrustDomain)
			}
			if token = next; token == "" {
				break
			}
		}
		if !slices.Equal(got, want) {
			t.Fatalf("paged bundles = %v, want %v", got, want)
		}
		if n, err := s.CountBundles(t.Context()); err != nil || n != 5 {
			t.Fatalf("CountBundles = %d, %v; want 5", n, err)
		}
	},
}

func cloneBundle(t *testing.T, b *datastore.Bundle) *datastore.Bundle {
	t.Helper()
	c := *b
	c.X509Authorities = nil
	for _, a := range b.X509Authorities {
		c.X509Authorities = append(c.X509Authorities, datastore.X509Authority{DER: bytes.Clone(a.DER), Tainted: a.Tainted})
	}
	c.JWTAuthorities, c.WITAuthorities = cloneKeys(b.JWTAuthorities), cloneKeys(b.WITAuthorities)
	return &c
}

func cloneKeys(keys []datastore.JWTKey) []datastore.JWTKey {
	var out []datastore.JWTKey
	for _, k := range keys {
		k.PublicKey = bytes.Clone(k.PublicKey)
		out = append(out, k)
	}
	return out
}
