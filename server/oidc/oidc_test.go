package oidc

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/spiffe/spire-api-sdk/proto/spire/api/types"
)

type staticBundle struct{ b *types.Bundle }

func (s staticBundle) Bundle(context.Context) (*types.Bundle, uint64, error) { return s.b, 1, nil }

func jwtAuthority(t *testing.T, kid string, key crypto.Signer) *types.JWTKey {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(key.Public())
	if err != nil {
		t.Fatal(err)
	}
	return &types.JWTKey{KeyId: kid, PublicKey: der, ExpiresAt: time.Now().Add(time.Hour).Unix()}
}

// serve starts the handler on a loopback port; the issuer has a path to check prefixing.
func serve(t *testing.T, keys ...*types.JWTKey) string {
	t.Helper()
	return serveConfig(t, Config{}, keys...)
}

// serveConfig is serve with cfg's options; it sets Issuer and Bundles itself.
func serveConfig(t *testing.T, cfg Config, keys ...*types.JWTKey) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	issuer := "http://" + ln.Addr().String() + "/td-a"
	cfg.Issuer, cfg.Bundles = issuer, staticBundle{&types.Bundle{TrustDomain: "a.org", JwtAuthorities: keys}}
	h, err := NewHandler(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = Serve(ctx, ln, h, "", "", testLog(t)) }()
	t.Cleanup(func() { cancel(); <-done })
	return issuer
}

func sign(t *testing.T, key crypto.Signer, alg jose.SignatureAlgorithm, kid, issuer string) string {
	t.Helper()
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: jose.JSONWebKey{Key: key, KeyID: kid}}, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	tok, err := jwt.Signed(signer).Claims(jwt.Claims{Issuer: issuer, Subject: "spiffe://a.org/web", Audience: jwt.Audience{"cloud"},
		IssuedAt: jwt.NewNumericDate(now), Expiry: jwt.NewNumericDate(now.Add(5 * time.Minute))}).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestARelyingPartyVerifiesTokensWithTheDiscoveredKeys(t *testing.T) {
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	issuer := serve(t, jwtAuthority(t, "rsa-1", rsaKey), jwtAuthority(t, "ec-1", ecKey))
	provider, err := oidc.NewProvider(t.Context(), issuer)
	if err != nil {
		t.Fatalf("discovery failed: %v", err)
	}
	verifier := provider.Verifier(&oidc.Config{ClientID: "cloud"})
	tests := []struct {
		name string
		key  crypto.Signer
		alg  jose.SignatureAlgorithm
		kid  string
	}{
		{"RS256, the only algorithm Azure accepts", rsaKey, jose.RS256, "rsa-1"},
		{"ES256", ecKey, jose.ES256, "ec-1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok, err := verifier.Verify(t.Context(), sign(t, tt.key, tt.alg, tt.kid, issuer))
			if err != nil {
				t.Fatal(err)
			}
			if tok.Subject != "spiffe://a.org/web" {
				t.Fatalf("subject = %q", tok.Subject)
			}
		})
	}
	t.Run("a token from an unknown key is refused", func(t *testing.T) {
		other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if _, err := verifier.Verify(t.Context(), sign(t, other, jose.ES256, "ec-1", issuer)); err == nil {
			t.Fatal("a token signed by a key outside the JWKS verified")
		}
	})
}

func TestDiscoveryDocumentAndKeys(t *testing.T) {
	ecKey, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	issuer := serve(t, jwtAuthority(t, "k1", ecKey))
	var doc map[string]any
	getJSON(t, issuer+"/.well-known/openid-configuration", &doc)
	for _, field := range []string{"issuer", "jwks_uri", "response_types_supported", "subject_types_supported", "id_token_signing_alg_values_supported"} {
		if doc[field] == nil {
			t.Errorf("discovery document lacks %s: %v", field, doc)
		}
	}
	if doc["issuer"] != issuer || doc["jwks_uri"] != issuer+"/keys" {
		t.Errorf("issuer/jwks_uri = %v/%v, want %s and %s/keys", doc["issuer"], doc["jwks_uri"], issuer, issuer)
	}
	if ep, ok := doc["authorization_endpoint"]; !ok || ep != "" {
		t.Errorf("authorization_endpoint = %v (present %v), want present and empty: there is no authorization endpoint to point at", ep, ok)
	}
	if algs, _ := doc["id_token_signing_alg_values_supported"].([]any); len(algs) != 1 || algs[0] != "ES384" {
		t.Errorf("id_token_signing_alg_values_supported = %v, want only what the keys sign: [ES384]", algs)
	}
	var set struct {
		Keys []map[string]any `json:"keys"`
	}
	getJSON(t, issuer+"/keys", &set)
	if len(set.Keys) != 1 || set.Keys[0]["use"] != "sig" || set.Keys[0]["kid"] != "k1" || set.Keys[0]["alg"] != "ES384" {
		t.Fatalf("keys = %v, want one signature key k1 with alg ES384", set.Keys)
	}
}

func TestDocumentsAreCacheableAndOpenToBrowsers(t *testing.T) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	issuer := serve(t, jwtAuthority(t, "k1", key))
	for _, path := range []string{"/.well-known/openid-configuration", "/keys"} {
		t.Run(path, func(t *testing.T) {
			resp, err := http.Get(issuer + path)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if got := resp.Header.Get("Access-Control-Allow-Origin"); got != "*" {
				t.Errorf("Access-Control-Allow-Origin = %q, want * (browser clients fetch the keys)", got)
			}
			etag := resp.Header.Get("ETag")
			if etag == "" || resp.Header.Get("Cache-Control") == "" {
				t.Fatalf("ETag %q, Cache-Control %q: both wanted", etag, resp.Header.Get("Cache-Control"))
			}
			var maxAge int
			if _, err := fmt.Sscanf(resp.Header.Get("Cache-Control"), "public, max-age=%d", &maxAge); err != nil || maxAge >= 30 {
				t.Errorf("Cache-Control %q: want max-age under 30s, or kube-apiserver refuses a new key's first tokens until its cached keys are that close to expiry",
					resp.Header.Get("Cache-Control"))
			}
			req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, issuer+path, nil)
			req.Header.Set("If-None-Match", etag)
			resp, err = http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusNotModified {
				t.Fatalf("revalidation with the current ETag: %s, want 304", resp.Status)
			}
		})
	}
}

func TestKeyUseCanBeLeftOut(t *testing.T) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	issuer := serveConfig(t, Config{OmitKeyUse: true}, jwtAuthority(t, "k1", key))
	var set struct {
		Keys []map[string]any `json:"keys"`
	}
	getJSON(t, issuer+"/keys", &set)
	if len(set.Keys) != 1 {
		t.Fatalf("keys = %v", set.Keys)
	}
	if use, ok := set.Keys[0]["use"]; ok {
		t.Fatalf("use = %v, want it left out", use)
	}
}

func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatal(err)
	}
}

func testLog(t *testing.T) *slog.Logger { return slog.New(slog.NewTextHandler(t.Output(), nil)) }

func TestServeOverHTTPS(t *testing.T) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalPKCS8PrivateKey(key)
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	_ = os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	_ = os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	issuer := "https://" + ln.Addr().String()
	h, err := NewHandler(Config{Issuer: issuer, Bundles: staticBundle{&types.Bundle{TrustDomain: "a.org", JwtAuthorities: []*types.JWTKey{jwtAuthority(t, "k1", key)}}}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = Serve(ctx, ln, h, certFile, keyFile, testLog(t)) }()
	t.Cleanup(func() { cancel(); <-done })

	leaf, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	if _, err := oidc.NewProvider(oidc.ClientContext(t.Context(), client), issuer); err != nil {
		t.Fatalf("discovery over HTTPS: %v", err)
	}
}
