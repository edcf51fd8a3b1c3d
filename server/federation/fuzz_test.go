package federation

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/bundle/spiffebundle"

	"github.com/lanyard-dev/lanyard/internal/testca"
	"github.com/lanyard-dev/lanyard/server/datastore"
)

// bundleSeeds are real SPIFFE bundle documents and PEM files of partner.org.
func bundleSeeds(f *testing.F) [][]byte {
	ca, _ := testca.New(f, "partner.org CA", nil, nil, time.Now().Add(24*time.Hour))
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		f.Fatal(err)
	}
	sb := spiffebundle.FromX509Authorities(partnerTD, []*x509.Certificate{ca})
	if err := sb.AddJWTAuthority("k1", key.Public()); err != nil {
		f.Fatal(err)
	}
	sb.SetRefreshHint(5 * time.Minute)
	sb.SetSequenceNumber(42)
	doc, err := sb.Marshal()
	if err != nil {
		f.Fatal(err)
	}
	return [][]byte{
		doc,
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Raw}),
		[]byte(`{"keys":[],"spiffe_refresh_hint":-1}`),
		[]byte(`{"keys":[],"spiffe_refresh_hint":18446744074,"spiffe_sequence":18446744073709551615}`),
		[]byte(strings.Replace(string(doc), `"spiffe_refresh_hint":300`, `"spiffe_refresh_hint":18446744074`, 1)),
		[]byte(`{"keys":[{"use":"jwt-svid","kty":"EC","kid":"","crv":"P-256","x":"AA","y":"AA"}]}`),
		[]byte(`{"keys":[{"use":"x509-svid","kty":"EC","crv":"P-256","x5c":["AA=="]}]}`),
	}
}

// FuzzBundleDocument feeds what a partner's bundle endpoint answers, through the path
// the refresher takes (parse, convert, validate for the datastore). A stored bundle is
// later served to agents and workloads, so it must convert back to a SPIFFE bundle
// document and read back as the same bundle.
func FuzzBundleDocument(f *testing.F) {
	for _, s := range bundleSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		sb, err := spiffebundle.Parse(partnerTD, doc)
		if err != nil || len(sb.X509Authorities()) == 0 { // fetchAndStore refuses those
			return
		}
		b, err := fromSPIFFE(sb)
		if err != nil {
			return
		}
		checkStorableBundle(t, b)
	})
}

// FuzzLoadBundleFile feeds trust_bundle_path / -trustDomainBundlePath files (SPIFFE
// document or PEM), the bootstrap bundle of an https_spiffe relationship.
func FuzzLoadBundleFile(f *testing.F) {
	for _, s := range bundleSeeds(f) {
		f.Add(s)
	}
	path := filepath.Join(f.TempDir(), "bundle")
	f.Fuzz(func(t *testing.T, data []byte) {
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		b, err := LoadBundleFile(partnerTD, path)
		if err != nil {
			return
		}
		if len(b.X509Authorities) == 0 {
			t.Fatal("loaded a bootstrap bundle without X.509 authorities")
		}
		checkStorableBundle(t, b)
	})
}

// checkStorableBundle asserts an accepted bundle of partner.org can be served and
// reads back as itself.
func checkStorableBundle(t *testing.T, b *datastore.Bundle) {
	t.Helper()
	if b.TrustDomain != partnerTD.Name() {
		t.Fatalf("bundle of partner.org stored as the bundle of %q", b.TrustDomain)
	}
	sb, err := toSPIFFE(b)
	if err != nil {
		t.Fatalf("an accepted bundle cannot be converted back: %v", err)
	}
	doc, err := sb.Marshal()
	if err != nil {
		t.Fatalf("an accepted bundle cannot be served as a SPIFFE bundle document: %v", err)
	}
	back, err := spiffebundle.Parse(partnerTD, doc)
	if err != nil {
		t.Fatalf("the served document of an accepted bundle does not parse: %v\n%s", err, doc)
	}
	again, err := fromSPIFFE(back)
	if err != nil {
		t.Fatalf("the served document of an accepted bundle is refused: %v", err)
	}
	byKeyID := func(a, b datastore.JWTKey) int { return strings.Compare(a.KeyID, b.KeyID) }
	slices.SortFunc(b.JWTAuthorities, byKeyID)
	slices.SortFunc(again.JWTAuthorities, byKeyID)
	if !reflect.DeepEqual(again, b) {
		t.Fatalf("serving and reading an accepted bundle changes it:\n first %+v\nsecond %+v", b, again)
	}
}
