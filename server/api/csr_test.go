package api

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"net/url"
	"strings"
	"testing"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
)

func makeCSR(t testing.TB, uris ...string) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.CertificateRequest{}
	for _, u := range uris {
		pu, _ := url.Parse(u)
		tmpl.URIs = append(tmpl.URIs, pu)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, tmpl, key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func TestParseCSR(t *testing.T) {
	want := spiffeid.RequireFromString("spiffe://example.org/web")
	good := makeCSR(t, "spiffe://example.org/web")
	tampered := append([]byte(nil), good...)
	tampered[len(tampered)-5] ^= 0xff // inside the signature
	smallRSA, _ := rsa.GenerateKey(rand.Reader, 1024)
	rsaCSR, _ := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{}, smallRSA)
	tests := []struct {
		name    string
		der     []byte
		wantErr string
	}{
		{"a CSR naming the wanted ID is accepted", good, ""},
		{"a CSR with no URI SAN is accepted (the entry names the ID)", makeCSR(t), ""},
		{"an empty CSR is refused", nil, "csr is required"},
		{"garbage is refused", []byte("garbage"), "not a DER-encoded"},
		{"a CSR whose signature does not verify is refused", tampered, "signature"},
		{"a CSR naming another ID is refused", makeCSR(t, "spiffe://example.org/admin"), "does not match"},
		{"a CSR with two URI SANs is refused", makeCSR(t, "spiffe://example.org/web", "spiffe://example.org/x"), "exactly one"},
		{"an RSA key under 2048 bits is refused", rsaCSR, "at least 2048"},
		{"an oversized CSR is refused", make([]byte, MaxCSRSize+1), "at most"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseCSR(tt.der, want)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error = %v, want it to mention %q", err, tt.wantErr)
			}
		})
	}
}
