package ca

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/bundle/x509bundle"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"

	"github.com/lanyard-dev/lanyard/internal/testca"
)

// pki is an operator's root and an intermediate that signs for Lanyard.
type pki struct {
	root, inter       *x509.Certificate
	rootKey, interKey crypto.Signer
}

func newPKI(t *testing.T, interNotAfter time.Time) *pki {
	t.Helper()
	p := &pki{}
	p.root, p.rootKey = testca.New(t, "Corp Root", nil, nil, time.Now().Add(24*time.Hour))
	p.inter, p.interKey = testca.New(t, "Corp Issuing CA", p.root, p.rootKey, interNotAfter)
	return p
}

func writePEM(t *testing.T, path string, blocks ...*pem.Block) string {
	t.Helper()
	var b bytes.Buffer
	for _, blk := range blocks {
		_ = pem.Encode(&b, blk)
	}
	if err := os.WriteFile(path, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func (p *pki) files(t *testing.T, dir string) (certFile, keyFile, bundleFile string) {
	t.Helper()
	keyDER, _ := x509.MarshalPKCS8PrivateKey(p.interKey)
	return writePEM(t, filepath.Join(dir, "inter.pem"), &pem.Block{Type: "CERTIFICATE", Bytes: p.inter.Raw}),
		writePEM(t, filepath.Join(dir, "inter.key"), &pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}),
		writePEM(t, filepath.Join(dir, "root.pem"), &pem.Block{Type: "CERTIFICATE", Bytes: p.root.Raw})
}

func TestUpstreamCASignsOurCAAndSVIDsChainToTheRoot(t *testing.T) {
	f := newFixture(t)
	p := newPKI(t, time.Now().Add(12*time.Hour))
	certFile, keyFile, bundleFile := p.files(t, f.dir)
	up, err := LoadUpstream(certFile, keyFile, bundleFile, f.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	// A server that ran self-signed before is switched over.
	f.newCA()
	c := f.newCA(func(cfg *Config) { cfg.Upstream = up })

	chain := f.sign(c, "/web", time.Hour)
	if len(chain) != 3 || !chain[2].Equal(p.inter) || !bytes.Equal(chain[1].RawIssuer, p.inter.RawSubject) {
		t.Fatalf("chain = leaf + %d certificates; want leaf, our CA, the upstream intermediate", len(chain)-1)
	}
	rootOnly := x509bundle.FromX509Authorities(td, []*x509.Certificate{p.root})
	if _, _, err := x509svid.Verify(chain, rootOnly); err != nil {
		t.Fatalf("SVID does not verify against the operator's root alone: %v", err)
	}
	found := false
	for _, a := range f.x509Bundle().X509Authorities() {
		found = found || a.Equal(p.root)
	}
	if !found {
		t.Fatal("the trust bundle does not publish the upstream root")
	}
	t.Run("our CA never outlives the upstream certificate", func(t *testing.T) {
		short := newPKI(t, time.Now().Add(2*time.Hour))
		cf, kf, bf := short.files(t, t.TempDir())
		up, err := LoadUpstream(cf, kf, bf, f.clock.Now())
		if err != nil {
			t.Fatal(err)
		}
		g := newFixture(t)
		c := g.newCA(func(cfg *Config) { cfg.Upstream = up })
		if ca := g.sign(c, "/x", time.Hour)[1]; ca.NotAfter.After(short.inter.NotAfter) {
			t.Fatalf("CA expires %s, after its upstream (%s)", ca.NotAfter, short.inter.NotAfter)
		}
	})
	t.Run("the chain survives a restart", func(t *testing.T) {
		c := f.newCA(func(cfg *Config) { cfg.Upstream = up })
		if chain := f.sign(c, "/web", time.Hour); len(chain) != 3 {
			t.Fatalf("after restart the chain has %d certificates", len(chain))
		}
	})
}

func TestLoadUpstreamRefusesBadMaterial(t *testing.T) {
	dir := t.TempDir()
	p := newPKI(t, time.Now().Add(12*time.Hour))
	certFile, keyFile, bundleFile := p.files(t, dir)
	other := newPKI(t, time.Now().Add(12*time.Hour))
	otherKeyDER, _ := x509.MarshalPKCS8PrivateKey(other.interKey)
	wrongKey := writePEM(t, filepath.Join(dir, "wrong.key"), &pem.Block{Type: "PRIVATE KEY", Bytes: otherKeyDER})
	otherRoot := writePEM(t, filepath.Join(dir, "other-root.pem"), &pem.Block{Type: "CERTIFICATE", Bytes: other.root.Raw})
	for _, tt := range []struct {
		name, cert, key, bundle, want string
	}{
		{"a key that is not the certificate's", certFile, wrongKey, bundleFile, "does not hold the key"},
		{"roots the certificate does not chain to", certFile, keyFile, otherRoot, "does not chain to the roots"},
		{"no root at all", certFile, keyFile, "", "no root"},
		{"a missing file", filepath.Join(dir, "nope.pem"), keyFile, bundleFile, "cert_file"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := LoadUpstream(tt.cert, tt.key, tt.bundle, time.Now())
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}
