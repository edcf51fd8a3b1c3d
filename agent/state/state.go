// Package state persists what an agent must keep across restarts: its agent SVID and
// private key (a join token works only once, so losing them means re-provisioning) and
// the last trust bundle. Files are written durably (temporary file, fsync, rename, fsync of
// the directory) with mode 0600.
package state

import (
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/lanyard-dev/lanyard/internal/durable"
	"github.com/spiffe/go-spiffe/v2/bundle/x509bundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
)

const (
	// identityFile holds the agent SVID chain and its key together, so that a crash can
	// never leave a key next to a certificate it does not belong to.
	identityFile = "agent_identity.pem"
	// svidFile and keyFile are where agents before identityFile kept the chain and key;
	// they are read when identityFile is absent and removed by the next save.
	svidFile   = "agent_svid.pem"
	keyFile    = "agent_svid.key"
	bundleFile = "bundle.pem"
)

// Dir is an agent data directory.
type Dir struct {
	Path string
}

// ErrNone means nothing was saved yet.
var ErrNone = errors.New("no saved state")

// SaveSVID writes the agent SVID chain and its key to one file. When it returns nil both
// are on disk, so the caller may start using them; on error the previously saved pair is
// still in place.
func (d Dir) SaveSVID(chain []*x509.Certificate, key crypto.Signer) error {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return fmt.Errorf("encoding agent key: %w", err)
	}
	data := append(encodeCerts(chain), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})...)
	if err := d.write(identityFile, data); err != nil {
		return err
	}
	for _, f := range []string{svidFile, keyFile} {
		if err := os.Remove(filepath.Join(d.Path, f)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("removing the old %s: %w", f, err)
		}
	}
	return nil
}

// LoadSVID reads the agent SVID chain and key; ErrNone when absent.
func (d Dir) LoadSVID() ([]*x509.Certificate, crypto.Signer, error) {
	data, err := os.ReadFile(filepath.Join(d.Path, identityFile))
	switch {
	case errors.Is(err, os.ErrNotExist):
		return d.loadLegacySVID()
	case err != nil:
		return nil, nil, fmt.Errorf("reading agent SVID: %w", err)
	}
	return parseIdentity(filepath.Join(d.Path, identityFile), data, data)
}

func (d Dir) loadLegacySVID() ([]*x509.Certificate, crypto.Signer, error) {
	certPEM, err := os.ReadFile(filepath.Join(d.Path, svidFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil, ErrNone
	}
	if err != nil {
		return nil, nil, fmt.Errorf("reading agent SVID: %w", err)
	}
	keyPEM, err := os.ReadFile(filepath.Join(d.Path, keyFile))
	if err != nil {
		return nil, nil, fmt.Errorf("reading agent key: %w", err)
	}
	return parseIdentity(filepath.Join(d.Path, svidFile)+" and "+keyFile, certPEM, keyPEM)
}

// parseIdentity decodes a chain and the leaf's key, refusing a key of another certificate.
func parseIdentity(name string, certPEM, keyPEM []byte) ([]*x509.Certificate, crypto.Signer, error) {
	chain, err := decodeCerts(certPEM)
	if err != nil || len(chain) == 0 {
		return nil, nil, fmt.Errorf("agent SVID in %s is corrupt (delete it to attest again): %v", name, err)
	}
	var block *pem.Block
	for rest := keyPEM; ; {
		if block, rest = pem.Decode(rest); block == nil || block.Type == "PRIVATE KEY" {
			break
		}
	}
	if block == nil {
		return nil, nil, fmt.Errorf("agent key in %s is missing (delete it to attest again)", name)
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, nil, fmt.Errorf("agent key in %s: %w", name, err)
	}
	signer, ok := k.(crypto.Signer)
	if !ok {
		return nil, nil, fmt.Errorf("agent key in %s holds no signing key", name)
	}
	if pub, ok := signer.Public().(interface{ Equal(crypto.PublicKey) bool }); !ok || !pub.Equal(chain[0].PublicKey) {
		return nil, nil, fmt.Errorf("agent key in %s does not belong to its SVID (delete both to attest again)", name)
	}
	return chain, signer, nil
}

// SaveBundle writes the trust bundle's X.509 authorities.
func (d Dir) SaveBundle(b *x509bundle.Bundle) error {
	return d.write(bundleFile, encodeCerts(b.X509Authorities()))
}

// LoadBundle reads the saved bundle; ErrNone when absent.
func (d Dir) LoadBundle(td spiffeid.TrustDomain) (*x509bundle.Bundle, error) {
	return LoadBundleFile(td, filepath.Join(d.Path, bundleFile))
}

// LoadBundleFile reads PEM CA certificates as the bundle of td; ErrNone when the file is absent.
func LoadBundleFile(td spiffeid.TrustDomain, path string) (*x509bundle.Bundle, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, ErrNone
	}
	if err != nil {
		return nil, fmt.Errorf("reading bundle: %w", err)
	}
	certs, err := decodeCerts(data)
	if err != nil {
		return nil, fmt.Errorf("bundle %s: %w", path, err)
	}
	if len(certs) == 0 {
		return nil, fmt.Errorf("bundle %s holds no PEM certificates", path)
	}
	return x509bundle.FromX509Authorities(td, certs), nil
}

// Clear removes the saved agent SVID, e.g. after the server evicted the agent.
func (d Dir) Clear() error {
	for _, f := range []string{identityFile, svidFile, keyFile} {
		if err := os.Remove(filepath.Join(d.Path, f)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	return nil
}

func (d Dir) write(name string, data []byte) error {
	if err := os.MkdirAll(d.Path, 0o700); err != nil {
		return fmt.Errorf("creating data_dir: %w", err)
	}
	if err := durable.WriteFile(filepath.Join(d.Path, name), data); err != nil {
		return fmt.Errorf("writing %s: %w", name, err)
	}
	return nil
}

func encodeCerts(certs []*x509.Certificate) []byte {
	var out []byte
	for _, c := range certs {
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
	}
	return out
}

func decodeCerts(data []byte) ([]*x509.Certificate, error) {
	var certs []*x509.Certificate
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			return certs, nil
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, err
		}
		certs = append(certs, c)
	}
}
