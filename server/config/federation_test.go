package config

import (
	"strings"
	"testing"
)

func TestFederationAndOIDCErrorsNameTheField(t *testing.T) {
	tests := []struct {
		name, yaml, field string
	}{
		{"https_web without a certificate", "federation:\n  bundle_endpoint:\n    profile: https_web", "federation.bundle_endpoint.cert_file"},
		{"an unknown endpoint profile", "federation:\n  bundle_endpoint:\n    profile: http", "federation.bundle_endpoint.profile"},
		{"a plain http partner URL", "federation:\n  federates_with:\n    b.org:\n      bundle_endpoint_url: http://b.org\n      profile: https_web", "federation.federates_with.b.org"},
		{"https_spiffe without an endpoint ID", "federation:\n  federates_with:\n    b.org:\n      bundle_endpoint_url: https://b.org\n      profile: https_spiffe", "federation.federates_with.b.org"},
		{"federating with itself", "federation:\n  federates_with:\n    a.org:\n      bundle_endpoint_url: https://a.org\n      profile: https_web", "federation.federates_with.a.org"},
		{"plain HTTP OIDC off loopback", "oidc:\n  address: 0.0.0.0:443", "oidc.address"},
		{"an OIDC issuer that is not the JWT issuer", "jwt_issuer: https://x.org\noidc:\n  issuer: https://y.org", "oidc.issuer"},
		{"port 0 without an issuer", "oidc:\n  address: 127.0.0.1:0", "oidc.issuer"},
		{"a certificate without its key", "oidc:\n  cert_file: /tls.crt", "oidc.cert_file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte("trust_domain: a.org\n" + tt.yaml))
			if err == nil || !strings.Contains(err.Error(), tt.field) {
				t.Fatalf("error = %v, want it to name %q", err, tt.field)
			}
		})
	}
}

func TestOIDCIssuerBecomesTheJWTIssuer(t *testing.T) {
	tests := []struct {
		name, yaml, want string
	}{
		{"default: the loopback address over HTTP", "", "http://127.0.0.1:8444"},
		{"an explicit issuer", "oidc:\n  issuer: https://oidc.a.org", "https://oidc.a.org"},
		{"jwt_issuer alone", "jwt_issuer: https://jwt.a.org", "https://jwt.a.org"},
		{"OIDC disabled leaves jwt_issuer empty", "oidc:\n  address: \"\"", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Parse([]byte("trust_domain: a.org\n" + tt.yaml))
			if err != nil {
				t.Fatal(err)
			}
			if cfg.JWTIssuer != tt.want || (cfg.OIDCAddr() != "" && cfg.OIDC.Issuer != tt.want) {
				t.Fatalf("jwt_issuer=%q oidc.issuer=%q, want %q", cfg.JWTIssuer, cfg.OIDC.Issuer, tt.want)
			}
		})
	}
}

func TestBundleEndpointDefaults(t *testing.T) {
	cfg, err := Parse([]byte("trust_domain: a.org\nfederation:\n  bundle_endpoint: {}\n"))
	if err != nil {
		t.Fatal(err)
	}
	be := cfg.Federation.BundleEndpoint
	if cfg.BundleEndpointAddr() != "0.0.0.0:8443" || be.Profile != "https_spiffe" || be.RefreshHint.D().String() != "5m0s" {
		t.Fatalf("bundle endpoint defaults not applied: %+v at %s", be, cfg.BundleEndpointAddr())
	}
}
