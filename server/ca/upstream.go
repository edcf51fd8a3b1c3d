package ca

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/lanyard-dev/lanyard/internal/pemcert"
)

// Upstream is an operator's CA that signs this server's CA certificates instead of the
// server signing its own (SPIRE's "disk" UpstreamAuthority): SVIDs then chain to the
// operator's root, which is what the trust bundle publishes.
type Upstream struct {
	// Cert signs our CA certificates; Signer is its key.
	Cert   *x509.Certificate
	Signer crypto.Signer
	// Intermediates are the certificates between Cert and a root, sent with every SVID.
	Intermediates []*x509.Certificate
	// Roots are the trust bundle's X.509 authorities.
	Roots []*x509.Certificate
}

// LoadUpstream reads the upstream CA. certFile holds the signing certificate first,
// then any intermediates (a self-signed last certificate is taken as the root); keyFile
// its private key (PKCS#8, EC or PKCS#1); bundleFile the roots, optional when certFile
// ends with its root.
func LoadUpstream(certFile, keyFile, bundleFile string, now time.Time) (*Upstream, error) {
	certs, err := pemcert.ReadFile(certFile)
	if err != nil {
		return nil, fmt.Errorf("upstream cert_file: %w", err)
	}
	signer, err := readKey(keyFile)
	if err != nil {
		return nil, fmt.Errorf("upstream key_file: %w", err)
	}
	u := &Upstream{Cert: certs[0], Signer: signer}
	for _, c := range certs[1:] {
		if isSelfSigned(c) {
			u.Roots = append(u.Roots, c)
		} else {
			u.Intermediates = append(u.Intermediates, c)
		}
	}
	if isSelfSigned(u.Cert) {
		u.Roots = append(u.Roots, u.Cert)
	}
	if bundleFile != "" {
		if u.Roots, err = pemcert.ReadFile(bundleFile); err != nil {
			return nil, fmt.Errorf("upstream bundle_file: %w", err)
		}
	}
	if len(u.Roots) == 0 {
		return nil, errors.New("upstream: no root: set bundle_file to the root certificates, or end cert_file with the root")
	}
	if err := u.check(now); err != nil {
		return nil, err
	}
	return u, nil
}

func (u *Upstream) check(now time.Time) error {
	pub, ok := u.Signer.Public().(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(u.Cert.PublicKey) {
		return errors.New("upstream: key_file does not hold the key of the first certificate in cert_file")
	}
	if !u.Cert.IsCA || u.Cert.KeyUsage&x509.KeyUsageCertSign == 0 {
		return errors.New("upstream: the first certificate in cert_file is not a CA allowed to sign certificates")
	}
	if now.After(u.Cert.NotAfter) || now.Before(u.Cert.NotBefore) {
		return fmt.Errorf("upstream: certificate is valid only from %s to %s", u.Cert.NotBefore.UTC(), u.Cert.NotAfter.UTC())
	}
	roots, inter := x509.NewCertPool(), x509.NewCertPool()
	for _, r := range u.Roots {
		roots.AddCert(r)
	}
	for _, c := range u.Intermediates {
		inter.AddCert(c)
	}
	if _, err := u.Cert.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, CurrentTime: now,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
		return fmt.Errorf("upstream: cert_file does not chain to the roots: %w", err)
	}
	return nil
}

// chainDER is what follows our CA certificate in an SVID's chain: the upstream signing
// certificate unless it is itself a root, then the intermediates.
func (u *Upstream) chainDER() [][]byte {
	var out [][]byte
	if !isSelfSigned(u.Cert) {
		out = append(out, u.Cert.Raw)
	}
	for _, c := range u.Intermediates {
		out = append(out, c.Raw)
	}
	return out
}

func isSelfSigned(c *x509.Certificate) bool {
	return bytes.Equal(c.RawIssuer, c.RawSubject) && c.CheckSignatureFrom(c) == nil
}

func readKey(path string) (crypto.Signer, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	for {
		var b *pem.Block
		if b, data = pem.Decode(data); b == nil {
			return nil, fmt.Errorf("%s holds no PEM private key", path)
		}
		var key any
		switch b.Type {
		case "PRIVATE KEY":
			key, err = x509.ParsePKCS8PrivateKey(b.Bytes)
		case "EC PRIVATE KEY":
			key, err = x509.ParseECPrivateKey(b.Bytes)
		case "RSA PRIVATE KEY":
			key, err = x509.ParsePKCS1PrivateKey(b.Bytes)
		default:
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		s, ok := key.(crypto.Signer)
		if !ok {
			return nil, fmt.Errorf("%s: unsupported key type %T", path, key)
		}
		return s, nil
	}
}
