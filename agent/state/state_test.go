package state

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"strings"
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
	for _, f := range []string{identityFile} {
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

func TestLegacyTwoFileSVIDIsReadAndReplacedByOneFile(t *testing.T) {
	d := Dir{Path: t.TempDir()}
	cert, key := selfSigned(t)
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.write(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})); err != nil {
		t.Fatal(err)
	}
	if err := d.write(svidFile, encodeCerts([]*x509.Certificate{cert})); err != nil {
		t.Fatal(err)
	}
	chain, got, err := d.LoadSVID()
	if err != nil || !chain[0].Equal(cert) || !got.Public().(*ecdsa.PublicKey).Equal(key.Public()) {
		t.Fatalf("legacy files did not load: %v", err)
	}
	if err := d.SaveSVID(chain, got); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{svidFile, keyFile} {
		if _, err := os.Stat(filepath.Join(d.Path, f)); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("%s still there after a save: %v", f, err)
		}
	}
}

func TestKeyOfAnotherCertificateIsRefused(t *testing.T) {
	d := Dir{Path: t.TempDir()}
	cert, _ := selfSigned(t)
	_, other := selfSigned(t)
	if err := d.SaveSVID([]*x509.Certificate{cert}, other); err != nil {
		t.Fatal(err)
	}
	if _, _, err := d.LoadSVID(); err == nil || !strings.Contains(err.Error(), "does not belong") {
		t.Fatalf("a key of another certificate loaded: %v", err)
	}
}

// TestFailedSaveKeepsThePreviousSVID replaces the data dir by a file, which fails writes
// even for root, and checks that the saved pair is untouched and an error is returned.
func TestFailedSaveKeepsThePreviousSVID(t *testing.T) {
	parent := t.TempDir()
	d := Dir{Path: filepath.Join(parent, "agent")}
	oldCert, oldKey := selfSigned(t)
	if err := d.SaveSVID([]*x509.Certificate{oldCert}, oldKey); err != nil {
		t.Fatal(err)
	}
	moved := filepath.Join(parent, "moved")
	if err := os.Rename(d.Path, moved); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(d.Path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	newCert, newKey := selfSigned(t)
	if err := d.SaveSVID([]*x509.Certificate{newCert}, newKey); err == nil {
		t.Fatal("saving into an unwritable data_dir reported success")
	}
	if err := os.Remove(d.Path); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(moved, d.Path); err != nil {
		t.Fatal(err)
	}
	chain, _, err := d.LoadSVID()
	if err != nil || !chain[0].Equal(oldCert) {
		t.Fatalf("the previous SVID is gone after a failed save: %v", err)
	}
}
