package state

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/bundle/x509bundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
)

func selfSigned(t *testing.T) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return c, key
}

func TestSVIDSurvivesRestartAndKeyIsPrivate(t *testing.T) {
	d := Dir{Path: filepath.Join(t.TempDir(), "agent")}
	if _, _, err := d.LoadSVID(); !errors.Is(err, ErrNone) {
		t.Fatalf("empty dir: err = %v, want ErrNone", err)
	}
	cert, key := selfSigned(t)
	if err := d.SaveSVID([]*x509.Certificate{cert}, key); err != nil {
		t.Fatal(err)
	}
	chain, got, err := Dir{Path: d.Path}.LoadSVID()
	if err != nil {
		t.Fatal(err)
	}
	if !chain[0].Equal(cert) || !got.Public().(*ecdsa.PublicKey).Equal(key.Public()) {
		t.Fatal("reloaded SVID or key differs from the saved one")
	}
	for _, f := range []string{keyFile, svidFile} {
		fi, err := os.Stat(filepath.Join(d.Path, f))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Fatalf("%s has mode %v, want 0600", f, fi.Mode().Perm())
		}
	}
	if err := d.Clear(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := d.LoadSVID(); !errors.Is(err, ErrNone) {
		t.Fatalf("after Clear: err = %v, want ErrNone", err)
	}
}

func TestBundleRoundTripAndBadFiles(t *testing.T) {
	td := spiffeid.RequireTrustDomainFromString("example.org")
	d := Dir{Path: t.TempDir()}
	cert, _ := selfSigned(t)
	if err := d.SaveBundle(x509bundle.FromX509Authorities(td, []*x509.Certificate{cert})); err != nil {
		t.Fatal(err)
	}
	b, err := d.LoadBundle(td)
	if err != nil {
		t.Fatal(err)
	}
	if len(b.X509Authorities()) != 1 || !b.X509Authorities()[0].Equal(cert) {
		t.Fatal("bundle did not round-trip")
	}
	empty := filepath.Join(t.TempDir(), "empty.pem")
	if err := os.WriteFile(empty, []byte("not pem"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadBundleFile(td, empty); err == nil {
		t.Fatal("a file without certificates was accepted as a bundle")
	}
}
