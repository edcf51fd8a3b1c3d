package state

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/lanyard-dev/lanyard/internal/testca"
)

// stateSeeds returns a real agent SVID chain and PKCS#8 key, as SaveSVID writes them.
func stateSeeds(f *testing.F) (chainPEM, keyPEM []byte) {
	cert, key := testca.New(f, "agent", nil, nil, time.Now().Add(time.Hour))
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		f.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

// fuzzDir is a directory for one fuzz target's files, on tmpfs when there is one:
// SaveSVID fsyncs, and fsync on a busy disk would dominate every execution.
func fuzzDir(f *testing.F) string {
	dir, err := os.MkdirTemp("/dev/shm", "lanyard-fuzz-")
	if err != nil {
		return f.TempDir()
	}
	f.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// FuzzLoadSVID feeds the agent_svid.pem and agent_svid.key files an agent finds at
// start (possibly truncated or damaged by a crash). What loads must save and load again
// unchanged: the agent rewrites these files on every renewal.
func FuzzLoadSVID(f *testing.F) {
	chain, key := stateSeeds(f)
	other, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		f.Fatal(err)
	}
	otherDER, err := x509.MarshalPKCS8PrivateKey(other)
	if err != nil {
		f.Fatal(err)
	}
	sec1, err := x509.MarshalECPrivateKey(other)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(chain, key)
	f.Add(append(append([]byte{}, chain...), chain...), key)
	f.Add(chain[:len(chain)/2], key)
	f.Add(chain, key[:len(key)/2])
	f.Add(chain, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: sec1}))
	f.Add(chain, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: otherDER})) // a key of another SVID
	f.Add(append([]byte("-----BEGIN JUNK-----\nAA==\n-----END JUNK-----\n"), chain...), key)
	f.Add([]byte{}, []byte{})
	d := Dir{Path: fuzzDir(f)}
	f.Fuzz(func(t *testing.T, chainPEM, keyPEM []byte) {
		if err := os.WriteFile(filepath.Join(d.Path, svidFile), chainPEM, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(d.Path, keyFile), keyPEM, 0o600); err != nil {
			t.Fatal(err)
		}
		certs, signer, err := d.LoadSVID()
		if err != nil {
			return
		}
		if len(certs) == 0 || signer == nil {
			t.Fatalf("loaded %d certificates and key %v", len(certs), signer)
		}
		if err := d.SaveSVID(certs, signer); err != nil {
			t.Fatalf("a loaded SVID cannot be saved again: %v", err)
		}
		certs2, signer2, err := d.LoadSVID()
		if err != nil {
			t.Fatalf("a saved SVID does not load again: %v", err)
		}
		if !reflect.DeepEqual(rawCerts(certs), rawCerts(certs2)) || !reflect.DeepEqual(signer.Public(), signer2.Public()) {
			t.Fatal("saving and loading the SVID changes it")
		}
	})
}

// FuzzLoadBundleFile feeds trust_bundle_path and the saved bundle.pem.
func FuzzLoadBundleFile(f *testing.F) {
	chain, key := stateSeeds(f)
	f.Add(chain)
	f.Add(append(append([]byte{}, key...), chain...))
	f.Add(chain[:len(chain)-30])
	f.Add([]byte("-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----\n"))
	td := spiffeid.RequireTrustDomainFromString("example.org")
	d := Dir{Path: fuzzDir(f)}
	path := filepath.Join(d.Path, "trust.pem")
	f.Fuzz(func(t *testing.T, data []byte) {
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		b, err := LoadBundleFile(td, path)
		if err != nil {
			return
		}
		if b.TrustDomain() != td || len(b.X509Authorities()) == 0 {
			t.Fatalf("loaded a bundle of %s with %d authorities", b.TrustDomain(), len(b.X509Authorities()))
		}
		if err := d.SaveBundle(b); err != nil {
			t.Fatal(err)
		}
		saved, err := d.LoadBundle(td)
		if err != nil || !saved.Equal(b) {
			t.Fatalf("saving and loading the bundle changes it (%v)", err)
		}
	})
}

func rawCerts(certs []*x509.Certificate) [][]byte {
	out := make([][]byte, len(certs))
	for i, c := range certs {
		out[i] = bytes.Clone(c.Raw)
	}
	return out
}
