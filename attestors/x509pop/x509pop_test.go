package x509pop_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lanyard-dev/lanyard/attestors/x509pop"
	"github.com/lanyard-dev/lanyard/attestors/x509pop/x509poptest"
	"github.com/lanyard-dev/lanyard/internal/testca"
)

// challengeFor is what a server sends for leaf.
func challengeFor(t *testing.T, leaf *x509.Certificate) (*x509pop.Challenge, []byte) {
	t.Helper()
	c, err := x509pop.NewChallenge(leaf)
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	return c, b
}

func TestProverProvesPossessionOfEitherKeyType(t *testing.T) {
	root := x509poptest.NewCA(t, "root", nil)
	inter := x509poptest.NewCA(t, "intermediate", root)
	for _, rsaKey := range []bool{false, true} {
		name := map[bool]string{false: "ECDSA", true: "RSA"}[rsaKey]
		t.Run(name, func(t *testing.T) {
			node := inter.Issue(t, x509poptest.Node{CN: "node1", RSA: rsaKey}, inter)
			certPath, keyPath := node.Write(t, t.TempDir())
			p := &x509pop.Prover{CertificatePath: certPath, PrivateKeyPath: keyPath}
			payload, err := p.Payload(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			leaf, rest, err := x509pop.ParsePayload(payload)
			if err != nil {
				t.Fatal(err)
			}
			if !leaf.Equal(node.Cert) || len(rest) != 1 || !rest[0].Equal(inter.Cert) {
				t.Fatalf("payload holds %s and %d more, want the node certificate and its intermediate", leaf.Subject, len(rest))
			}
			c, cb := challengeFor(t, leaf)
			if rsaKey != (c.RSASignature != nil) {
				t.Fatalf("challenge %+v is not for a %s key", c, name)
			}
			answer, err := p.RespondChallenge(context.Background(), cb)
			if err != nil {
				t.Fatal(err)
			}
			r, err := x509pop.ParseResponse(answer)
			if err != nil {
				t.Fatal(err)
			}
			if err := x509pop.Verify(leaf.PublicKey, c, r); err != nil {
				t.Fatalf("the server refuses the prover's answer: %v", err)
			}
			// The same answer to a later challenge is a replay: that challenge's nonce is new.
			c2, _ := challengeFor(t, leaf)
			if err := x509pop.Verify(leaf.PublicKey, c2, r); !errors.Is(err, x509pop.ErrBadSignature) {
				t.Fatalf("a replayed answer verified: %v", err)
			}
		})
	}
}

func TestVerifyRefusesAnotherKey(t *testing.T) {
	ca := x509poptest.NewCA(t, "root", nil)
	for _, rsaKey := range []bool{false, true} {
		node := ca.Issue(t, x509poptest.Node{CN: "node1", RSA: rsaKey})
		thief := ca.Issue(t, x509poptest.Node{CN: "node1", RSA: rsaKey})
		c, _ := challengeFor(t, node.Cert)
		r, err := x509pop.Respond(thief.Key, c)
		if err != nil {
			t.Fatal(err)
		}
		if err := x509pop.Verify(node.Cert.PublicKey, c, r); !errors.Is(err, x509pop.ErrBadSignature) {
			t.Fatalf("RSA=%v: an answer signed by another key: %v", rsaKey, err)
		}
	}
}

func TestProverReadsSPIREKeyFormats(t *testing.T) {
	ca := x509poptest.NewCA(t, "root", nil)
	for _, tt := range []struct {
		name string
		rsa  bool
		pem  func(key any) *pem.Block
	}{
		{"RSA PKCS#1", true, func(k any) *pem.Block {
			return &pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k.(*rsa.PrivateKey))}
		}},
		{"EC SEC 1", false, func(k any) *pem.Block {
			der, _ := x509.MarshalECPrivateKey(k.(*ecdsa.PrivateKey))
			return &pem.Block{Type: "EC PRIVATE KEY", Bytes: der}
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			node := ca.Issue(t, x509poptest.Node{CN: "n", RSA: tt.rsa})
			certPath, keyPath := node.Write(t, t.TempDir())
			if err := os.WriteFile(keyPath, pem.EncodeToMemory(tt.pem(node.Key)), 0o600); err != nil {
				t.Fatal(err)
			}
			p := &x509pop.Prover{CertificatePath: certPath, PrivateKeyPath: keyPath}
			if _, err := p.Payload(context.Background()); err != nil {
				t.Fatal(err)
			}
			_, cb := challengeFor(t, node.Cert)
			if _, err := p.RespondChallenge(context.Background(), cb); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestProverErrorsNameTheFile(t *testing.T) {
	ca := x509poptest.NewCA(t, "root", nil)
	dir := t.TempDir()
	certPath, keyPath := ca.Issue(t, x509poptest.Node{CN: "n"}).Write(t, dir)
	otherDir := t.TempDir()
	_, otherKey := ca.Issue(t, x509poptest.Node{CN: "n"}).Write(t, otherDir)
	noSigCert, noSigKey := ca.Issue(t, x509poptest.Node{CN: "n", KeyUsage: x509.KeyUsageKeyEncipherment}).Write(t, t.TempDir())
	edCert, edKey := ed25519Node(t, ca, t.TempDir())
	garbage := filepath.Join(dir, "garbage.pem")
	if err := os.WriteFile(garbage, []byte("not PEM"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		p    *x509pop.Prover
		want string
	}{
		{"no paths", &x509pop.Prover{}, "certificate_path and private_key_path are required"},
		{"missing certificate file", &x509pop.Prover{CertificatePath: filepath.Join(dir, "none.pem"), PrivateKeyPath: keyPath}, "none.pem"},
		{"key of another certificate", &x509pop.Prover{CertificatePath: certPath, PrivateKeyPath: otherKey}, "private key does not match"},
		{"certificate without digitalSignature", &x509pop.Prover{CertificatePath: noSigCert, PrivateKeyPath: noSigKey}, "digitalSignature"},
		{"an Ed25519 key", &x509pop.Prover{CertificatePath: edCert, PrivateKeyPath: edKey}, "supports RSA and ECDSA keys"},
		{"intermediates file without certificates", &x509pop.Prover{CertificatePath: certPath, PrivateKeyPath: keyPath, IntermediatesPath: garbage}, "intermediates_path: " + garbage},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.p.Payload(context.Background())
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error = %v, want one mentioning %q", err, tt.want)
			}
		})
	}
	if _, err := (&x509pop.Prover{}).RespondChallenge(context.Background(), []byte("{}")); err == nil {
		t.Fatal("a prover that sent nothing answered a challenge")
	}
}

// TestWireFormatIsSPIREs pins the JSON names SPIRE's x509pop plugins exchange.
func TestWireFormatIsSPIREs(t *testing.T) {
	for _, tt := range []struct {
		v    any
		want string
	}{
		{x509pop.Payload{Certificates: [][]byte{{1}}}, `{"certificates":["AQ=="]}`},
		{x509pop.Challenge{ECDSASignature: &x509pop.Nonce{Nonce: []byte{1}}}, `{"rsa_signature":null,"ecdsa_signature":{"nonce":"AQ=="}}`},
		{x509pop.Response{RSASignature: &x509pop.RSAAnswer{Nonce: []byte{1}, Signature: []byte{2}}}, `{"rsa_signature":{"nonce":"AQ==","signature":"Ag=="},"ecdsa_signature":null}`},
		{x509pop.Response{ECDSASignature: &x509pop.ECDSAAnswer{Nonce: []byte{1}, R: []byte{2}, S: []byte{3}}}, `{"rsa_signature":null,"ecdsa_signature":{"nonce":"AQ==","r":"Ag==","s":"Aw=="}}`},
	} {
		b, err := json.Marshal(tt.v)
		if err != nil || string(b) != tt.want {
			t.Errorf("%T encodes as %s (%v), want %s", tt.v, b, err, tt.want)
		}
	}
}

// ed25519Node writes a node certificate with an Ed25519 key, which x509pop does not support.
func ed25519Node(t *testing.T, ca *x509poptest.CA, dir string) (certPath, keyPath string) {
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	cert := testca.Sign(t, &x509.Certificate{NotBefore: time.Now().Add(-time.Minute), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature}, key, ca.Cert, ca.Key)
	return (&x509poptest.Issued{Cert: cert, Key: key}).Write(t, dir)
}
