package certfile

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lanyard-dev/lanyard/internal/testca"
)

func write(t *testing.T, dir, name string) (certFile, keyFile string, cert *x509.Certificate) {
	t.Helper()
	cert, key := testca.New(t, name, nil, nil, time.Now().Add(time.Hour))
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	// Coarse modification times must not hide the change.
	later := time.Now().Add(time.Duration(len(name)) * time.Minute)
	for _, f := range []string{certFile, keyFile} {
		if err := os.Chtimes(f, later, later); err != nil {
			t.Fatal(err)
		}
	}
	return certFile, keyFile, cert
}

func served(t *testing.T, f *Files) *x509.Certificate {
	t.Helper()
	c, err := f.Get(&tls.ClientHelloInfo{})
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(c.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	return leaf
}

func TestRenewedFilesAreServedAndBrokenOnesIgnored(t *testing.T) {
	dir := t.TempDir()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	certFile, keyFile, first := write(t, dir, "first")
	f, err := New(certFile, keyFile, "test", log)
	if err != nil {
		t.Fatal(err)
	}
	if !served(t, f).Equal(first) {
		t.Fatal("does not serve the certificate in the files")
	}
	f.every = 0 // look at the files on every call
	_, _, renewed := write(t, dir, "renewed-cert")
	if !served(t, f).Equal(renewed) {
		t.Fatal("the renewed certificate is not served")
	}

	// A half-written renewal (the key of another certificate) keeps the last good one.
	other, _ := testca.New(t, "other", nil, nil, time.Now().Add(time.Hour))
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: other.Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	later := time.Now().Add(time.Hour)
	_ = os.Chtimes(certFile, later, later)
	if !served(t, f).Equal(renewed) {
		t.Fatal("a mismatched pair replaced the good certificate")
	}
}

func TestNewNeedsBothFiles(t *testing.T) {
	if _, err := New("", "key.pem", "oidc", nil); err == nil || !strings.Contains(err.Error(), "oidc: cert_file and key_file") {
		t.Fatalf("error = %v", err)
	}
	if _, err := New("/nonexistent.crt", "/nonexistent.key", "oidc", nil); err == nil {
		t.Fatal("missing files accepted")
	}
}
