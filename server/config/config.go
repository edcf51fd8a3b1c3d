// Package config is lanyard-server's configuration file: a YAML document with
// documented defaults, validated at start with errors that name the field to fix.
package config

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/lanyard-dev/lanyard/internal/unixsock"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"k8s.io/utils/clock"

	"github.com/lanyard-dev/lanyard/internal/yamlconf"

	"github.com/lanyard-dev/lanyard/server/keymanager"
)

// Config is the server configuration. Every field has a default (see Default).
type Config struct {
	// TrustDomain is the trust domain this server signs for, e.g. "example.org". Required.
	TrustDomain string `yaml:"trust_domain"`
	// DataDir holds the SQLite database and the CA keys. Default ".lanyard/server".
	DataDir string `yaml:"data_dir"`
	// BindAddress and BindPort are where agents reach the server API (TLS). Default 127.0.0.1:8081.
	BindAddress string `yaml:"bind_address"`
	BindPort    int    `yaml:"bind_port"`
	// AdminSocketPath is the unix socket of the admin API used by the CLI. Default
	// /run/lanyard/server/admin.sock, or under $XDG_RUNTIME_DIR/lanyard when /run/lanyard is
	// not writable (see unixsock.DefaultPath).
	AdminSocketPath string `yaml:"admin_socket_path"`
	// HealthAddress serves /healthz, /readyz and /metrics over HTTP. Default 127.0.0.1:8082; "" disables it.
	HealthAddress *string `yaml:"health_address"`
	// CAKeyType is the X.509 CA key: ec-p256 (default), ec-p384, rsa-2048, rsa-4096.
	CAKeyType string `yaml:"ca_key_type"`
	// JWTKeyType is the JWT signing key: ec-p256 (default, ES256), ec-p384 (ES384), rsa-2048/rsa-4096 (RS256).
	JWTKeyType string `yaml:"jwt_key_type"`
	// CATTL is the lifetime of each CA certificate and JWT key. Default 24h.
	CATTL yamlconf.Duration `yaml:"ca_ttl"`
	// DefaultX509SVIDTTL is used when an entry sets none. Default 1h.
	DefaultX509SVIDTTL yamlconf.Duration `yaml:"default_x509_svid_ttl"`
	// DefaultJWTSVIDTTL is used when an entry sets none. Default 5m.
	DefaultJWTSVIDTTL yamlconf.Duration `yaml:"default_jwt_svid_ttl"`
	// DefaultWITSVIDTTL is the WIT-SVID TTL when the entry sets no x509_svid_ttl. Default 1h.
	DefaultWITSVIDTTL yamlconf.Duration `yaml:"default_wit_svid_ttl"`
	// AgentTTL is the lifetime of agent SVIDs. Default 1h.
	AgentTTL yamlconf.Duration `yaml:"agent_ttl"`
	// JWTIssuer is the "iss" claim of JWT-SVIDs (the OIDC issuer URL). Default none.
	JWTIssuer string `yaml:"jwt_issuer"`
	// WITIssuer is the "iss" claim of WIT-SVIDs. Default none (the WIT-SVID spec makes it
	// optional). Not an http(s) URL: the spec (3.7) keeps WIT-SVIDs away from OIDC discovery.
	WITIssuer string `yaml:"wit_issuer"`
	// KeyManager is "disk" (default: keys in DataDir/keys, 0600), "memory" or "pkcs11"
	// (keys inside a PKCS#11 token, see PKCS11).
	KeyManager string `yaml:"key_manager"`
	// PKCS11 is the token key_manager: pkcs11 uses.
	PKCS11 *PKCS11Config `yaml:"pkcs11"`
	// Federation is the bundle endpoint and the federated trust domains.
	Federation FederationConfig `yaml:"federation"`
	// OIDC is the OpenID Connect discovery endpoint (on by default, loopback only).
	OIDC OIDCConfig `yaml:"oidc"`
	// KubernetesRegistration, when set, registers pods from IdentityTemplates.
	KubernetesRegistration *KubernetesRegistrationConfig `yaml:"kubernetes_registration"`
	// UpstreamAuthority, when set, signs the CA certificates with an operator's CA.
	UpstreamAuthority *UpstreamAuthorityConfig `yaml:"upstream_authority"`
	// KubernetesBundle, when set, publishes the trust bundle into a ConfigMap.
	KubernetesBundle *KubernetesBundleConfig `yaml:"kubernetes_bundle"`
	// KubernetesPodCertificates, when set, signs PodCertificateRequests (pod certificates
	// without an agent) and publishes ClusterTrustBundles.
	KubernetesPodCertificates *KubernetesPodCertificatesConfig `yaml:"kubernetes_pod_certificates"`
	// Datastore selects the backend. Default sqlite at DataDir/datastore.sqlite3.
	Datastore DatastoreConfig `yaml:"datastore"`
	// NodeAttestors enables node attestors beyond join_token (always on).
	NodeAttestors NodeAttestors `yaml:"node_attestors"`
	// LogLevel is debug, info (default), warn or error.
	LogLevel string `yaml:"log_level"`
	// LogFormat is text (default) or json.
	LogFormat string `yaml:"log_format"`

	// ForceNew starts even when data_dir shows this server ran before but the datastore
	// does not hold its state (empty, replaced, or its write-ahead log lost): the operator
	// chose a new CA over restoring a backup. Set by `lanyard-server run -forceNew`, never
	// by the file.
	ForceNew bool `yaml:"-"`

	// Clock drives expiry checks and the server's own timers; tests set a fake one. It is
	// not read from YAML. Default (nil): clock.RealClock{}.
	Clock clock.WithTicker `yaml:"-"`
}

// Default returns the configuration with every default filled in (TrustDomain stays empty).
func Default() Config {
	health, oidc := "127.0.0.1:8082", defaultOIDCAddress
	return Config{
		DataDir:            ".lanyard/server",
		BindAddress:        "127.0.0.1",
		BindPort:           8081,
		AdminSocketPath:    unixsock.DefaultPath(unixsock.ServerAdmin),
		HealthAddress:      &health,
		CAKeyType:          string(keymanager.ECP256),
		JWTKeyType:         string(keymanager.ECP256),
		CATTL:              yamlconf.Duration(24 * time.Hour),
		DefaultX509SVIDTTL: yamlconf.Duration(time.Hour),
		DefaultJWTSVIDTTL:  yamlconf.Duration(5 * time.Minute),
		DefaultWITSVIDTTL:  yamlconf.Duration(time.Hour),
		AgentTTL:           yamlconf.Duration(time.Hour),
		KeyManager:         "disk",
		Datastore:          DatastoreConfig{Type: "sqlite"},
		OIDC:               OIDCConfig{Address: &oidc},
		LogLevel:           "info",
		LogFormat:          "text",
	}
}

// Load reads a YAML file over the defaults and validates the result.
func Load(path string) (Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("reading config: %w", err)
	}
	return Parse(data)
}

// Parse reads YAML documents over the defaults (the file, then e.g. the settings of
// command-line flags) and validates the result. Unknown fields are errors, so a typo does
// not silently fall back to a default.
func Parse(docs ...[]byte) (Config, error) {
	cfg := Default()
	if err := yamlconf.Parse(&cfg, docs...); err != nil {
		return Config{}, err
	}
	if err := cfg.Validate(); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

// Validate checks every field and fills derived defaults.
func (c *Config) Validate() error {
	if c.TrustDomain == "" {
		return yamlconf.FieldError("trust_domain", "is required, e.g. trust_domain: example.org")
	}
	if _, err := spiffeid.TrustDomainFromString(c.TrustDomain); err != nil {
		return yamlconf.FieldError("trust_domain", fmt.Sprintf("%q is not a valid trust domain name (lowercase letters, digits, '.', '-', '_'): %v", c.TrustDomain, err))
	}
	if c.DataDir == "" {
		return yamlconf.FieldError("data_dir", "must not be empty")
	}
	if ip := net.ParseIP(c.BindAddress); ip == nil {
		return yamlconf.FieldError("bind_address", fmt.Sprintf("%q is not an IP address (e.g. 127.0.0.1 or 0.0.0.0)", c.BindAddress))
	}
	if c.BindPort < 0 || c.BindPort > 65535 {
		return yamlconf.FieldError("bind_port", fmt.Sprintf("%d is not a port (0-65535; 0 picks a free one)", c.BindPort))
	}
	if c.AdminSocketPath == "" || !filepath.IsAbs(c.AdminSocketPath) {
		return yamlconf.FieldError("admin_socket_path", fmt.Sprintf("%q must be an absolute path", c.AdminSocketPath))
	}
	if len(c.AdminSocketPath) > 100 {
		return yamlconf.FieldError("admin_socket_path", "is longer than the 100 bytes a unix socket path may have here")
	}
	if c.HealthAddress != nil && *c.HealthAddress != "" {
		if _, port, err := net.SplitHostPort(*c.HealthAddress); err != nil || !yamlconf.IsPort(port) {
			return yamlconf.FieldError("health_address", fmt.Sprintf("%q must be host:port, or \"\" to disable", *c.HealthAddress))
		}
	}
	if _, err := keymanager.ParseKeyType(c.CAKeyType); err != nil {
		return yamlconf.FieldError("ca_key_type", err.Error())
	}
	if _, err := keymanager.ParseKeyType(c.JWTKeyType); err != nil {
		return yamlconf.FieldError("jwt_key_type", err.Error())
	}
	if c.CATTL.D() < time.Minute {
		return yamlconf.FieldError("ca_ttl", "must be at least 1m")
	}
	for _, f := range []struct {
		name string
		d    yamlconf.Duration
	}{{"default_x509_svid_ttl", c.DefaultX509SVIDTTL}, {"default_jwt_svid_ttl", c.DefaultJWTSVIDTTL}, {"default_wit_svid_ttl", c.DefaultWITSVIDTTL}, {"agent_ttl", c.AgentTTL}} {
		if f.d.D() < 10*time.Second {
			return yamlconf.FieldError(f.name, "must be at least 10s")
		}
		if f.d.D() > c.CATTL.D() {
			return yamlconf.FieldError(f.name, fmt.Sprintf("(%s) must not exceed ca_ttl (%s): SVIDs cannot outlive their CA", f.d.D(), c.CATTL.D()))
		}
	}
	if u := strings.ToLower(c.WITIssuer); strings.HasPrefix(u, "https://") || strings.HasPrefix(u, "http://") {
		return yamlconf.FieldError("wit_issuer", fmt.Sprintf("%q is a URL OpenID Connect discovery could accept, and the WIT-SVID spec (3.7) says the issuer should not be one, so that no relying party takes a WIT-SVID for an ID token without its proof of possession; use a name such as %q, or leave it out",
			c.WITIssuer, "wit."+c.TrustDomain))
	}
	switch c.KeyManager {
	case "disk", "memory", "pkcs11":
	default:
		return yamlconf.FieldError("key_manager", fmt.Sprintf("%q: use disk, memory or pkcs11", c.KeyManager))
	}
	if err := c.validatePKCS11(); err != nil {
		return err
	}
	if err := c.validateDatastore(); err != nil {
		return err
	}
	if err := c.validateFederation(); err != nil {
		return err
	}
	if err := c.validateOIDC(); err != nil {
		return err
	}
	if err := c.validateKubernetesRegistration(); err != nil {
		return err
	}
	if err := c.validateKubernetesBundle(); err != nil {
		return err
	}
	if err := c.validateKubernetesPodCertificates(); err != nil {
		return err
	}
	if err := c.validateUpstream(); err != nil {
		return err
	}
	if k := c.NodeAttestors.K8sPSAT; k != nil {
		if err := k.validate(); err != nil {
			return err
		}
	}
	if t := c.NodeAttestors.TPMDevID; t != nil {
		if err := t.validate(); err != nil {
			return err
		}
	}
	if x := c.NodeAttestors.X509PoP; x != nil {
		if err := x.validate(); err != nil {
			return err
		}
	}
	return yamlconf.Logging(c.LogLevel, c.LogFormat)
}

// TD returns the parsed trust domain (Validate must have passed).
func (c *Config) TD() spiffeid.TrustDomain {
	return spiffeid.RequireTrustDomainFromString(c.TrustDomain)
}

// HealthAddr returns the health listener address, "" when disabled.
func (c *Config) HealthAddr() string {
	if c.HealthAddress == nil {
		return ""
	}
	return *c.HealthAddress
}
