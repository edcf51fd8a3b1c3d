// Package testca makes CA certificates for tests: roots, intermediates and upstream
// authorities standing in for an operator's PKI.
package testca

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"net/url"
	"testing"
	"time"
)

// New makes a P-256 CA named cn, valid from an hour ago until notAfter, signed by
// parent/parentKey, or self-signed when parent is nil.
func New(t testing.TB, cn string, parent *x509.Certificate, parentKey crypto.Signer, notAfter time.Time) (*x509.Certificate, crypto.Signer) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 64))
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: serial, Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: notAfter, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign}
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	return sign(t, tmpl, parent, key, parentKey), key
}

// Leaf makes a P-256 X.509-SVID for the SPIFFE ID id, valid from a minute ago until
// notAfter, signed by parent/parentKey.
func Leaf(t testing.TB, id string, parent *x509.Certificate, parentKey crypto.Signer, notAfter time.Time) (*x509.Certificate, crypto.Signer) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(id)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), URIs: []*url.URL{u},
		NotBefore: time.Now().Add(-time.Minute), NotAfter: notAfter, KeyUsage: x509.KeyUsageDigitalSignature}
	return sign(t, tmpl, parent, key, parentKey), key
}

// Serving makes a P-256 TLS server certificate for the IP addresses ips, valid from a
// minute ago until notAfter, signed by parent/parentKey.
func Serving(t testing.TB, parent *x509.Certificate, parentKey crypto.Signer, notAfter time.Time, ips ...net.IP) (*x509.Certificate, crypto.Signer) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), IPAddresses: ips,
		NotBefore: time.Now().Add(-time.Minute), NotAfter: notAfter, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	return sign(t, tmpl, parent, key, parentKey), key
}

func sign(t testing.TB, tmpl, parent *x509.Certificate, key, parentKey crypto.Signer) *x509.Certificate {
	t.Helper()
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, key.Public(), parentKey)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// Sign issues tmpl for key's public key, signed by parent/parentKey (self-signed when
// parent is nil), for certificates the other helpers do not make (node certificates of
// other key types, validity windows or key usages). tmpl.SerialNumber defaults to a
// random one.
func Sign(t testing.TB, tmpl *x509.Certificate, key crypto.Signer, parent *x509.Certificate, parentKey crypto.Signer) *x509.Certificate {
	t.Helper()
	if tmpl.SerialNumber == nil {
		serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 64))
		if err != nil {
			t.Fatal(err)
		}
		tmpl.SerialNumber = serial
	}
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	return sign(t, tmpl, parent, key, parentKey)
}
