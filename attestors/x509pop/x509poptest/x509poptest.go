// Package x509poptest makes the PKI x509pop tests attest with: an operator's CAs and
// node certificates of either key type, written to files as an agent reads them.
package x509poptest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/lanyard-dev/lanyard/attestors/x509pop"
	"github.com/lanyard-dev/lanyard/internal/testca"
)

// CA is a certificate authority of the operator's PKI.
type CA struct {
	Cert *x509.Certificate
	Key  crypto.Signer
}

// NewCA makes a CA valid for a day, self-signed when parent is nil.
func NewCA(t testing.TB, cn string, parent *CA) *CA {
	t.Helper()
	var pc *x509.Certificate
	var pk crypto.Signer
	if parent != nil {
		pc, pk = parent.Cert, parent.Key
	}
	c, k := testca.New(t, cn, pc, pk, time.Now().Add(24*time.Hour))
	return &CA{Cert: c, Key: k}
}

// WriteBundle writes the CAs' certificates as one PEM file and returns its path.
func WriteBundle(t testing.TB, path string, cas ...*CA) string {
	t.Helper()
	var b []byte
	for _, ca := range cas {
		b = append(b, pemCert(ca.Cert)...)
	}
	write(t, path, b)
	return path
}

// Node says what node certificate to make; zero values take the defaults.
type Node struct {
	CN string
	// RSA makes a 2048-bit RSA key; default ECDSA P-256.
	RSA bool
	// NotBefore and NotAfter default to a minute ago and a day from now.
	NotBefore, NotAfter time.Time
	// KeyUsage defaults to digitalSignature; NoKeyUsage leaves it empty.
	KeyUsage   x509.KeyUsage
	NoKeyUsage bool
	URIs       []string
}

// Issued is a node certificate, its key and the intermediates to send with it.
type Issued struct {
	Cert          *x509.Certificate
	Key           crypto.Signer
	Intermediates []*x509.Certificate
}

// Issue makes a node certificate signed by ca; intermediates are sent after it.
func (ca *CA) Issue(t testing.TB, n Node, intermediates ...*CA) *Issued {
	t.Helper()
	var key crypto.Signer
	var err error
	if n.RSA {
		key, err = rsa.GenerateKey(rand.Reader, 2048)
	} else {
		key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	}
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{Subject: pkix.Name{CommonName: n.CN}, NotBefore: n.NotBefore, NotAfter: n.NotAfter, KeyUsage: n.KeyUsage}
	if tmpl.NotBefore.IsZero() {
		tmpl.NotBefore = time.Now().Add(-time.Minute)
	}
	if tmpl.NotAfter.IsZero() {
		tmpl.NotAfter = time.Now().Add(24 * time.Hour)
	}
	if tmpl.KeyUsage == 0 && !n.NoKeyUsage {
		tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	}
	for _, s := range n.URIs {
		u, err := url.Parse(s)
		if err != nil {
			t.Fatal(err)
		}
		tmpl.URIs = append(tmpl.URIs, u)
	}
	is := &Issued{Cert: testca.Sign(t, tmpl, key, ca.Cert, ca.Key), Key: key}
	for _, i := range intermediates {
		is.Intermediates = append(is.Intermediates, i.Cert)
	}
	return is
}

// Payload is the evidence an agent sends for the certificate.
func (is *Issued) Payload(t testing.TB) []byte {
	t.Helper()
	p := x509pop.Payload{Certificates: [][]byte{is.Cert.Raw}}
	for _, c := range is.Intermediates {
		p.Certificates = append(p.Certificates, c.Raw)
	}
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Write writes the certificate followed by its intermediates and the key (PKCS#8) into
// dir as node.crt.pem and node.key.pem, and returns their paths.
func (is *Issued) Write(t testing.TB, dir string) (certPath, keyPath string) {
	t.Helper()
	chain := pemCert(is.Cert)
	for _, c := range is.Intermediates {
		chain = append(chain, pemCert(c)...)
	}
	der, err := x509.MarshalPKCS8PrivateKey(is.Key)
	if err != nil {
		t.Fatal(err)
	}
	certPath, keyPath = filepath.Join(dir, "node.crt.pem"), filepath.Join(dir, "node.key.pem")
	write(t, certPath, chain)
	write(t, keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
	return certPath, keyPath
}

func pemCert(c *x509.Certificate) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
}

func write(t testing.TB, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}
