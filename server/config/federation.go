package config

import (
	"fmt"
	"maps"
	"net"
	"net/url"
	"slices"
	"strconv"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/lanyard-dev/lanyard/internal/yamlconf"
	"github.com/lanyard-dev/lanyard/server/datastore"
	"github.com/lanyard-dev/lanyard/server/federation"
)

// FederationConfig is SPIFFE federation: this server's bundle endpoint and the trust
// domains it federates with.
type FederationConfig struct {
	// BundleEndpoint serves this trust domain's bundle to partners. Absent: not served.
	BundleEndpoint *BundleEndpointConfig `yaml:"bundle_endpoint"`
	// FederatesWith maps a partner trust domain name to where its bundle is fetched.
	// These relationships are written to the datastore at start and win over relationships
	// for the same trust domain created through the API.
	FederatesWith map[string]FederatesWithConfig `yaml:"federates_with"`
}

// BundleEndpointConfig is the bundle endpoint (SPIFFE Federation §4).
type BundleEndpointConfig struct {
	// Address and Port to listen on. Default 0.0.0.0:8443.
	Address string `yaml:"address"`
	Port    *int   `yaml:"port"`
	// Profile is https_spiffe (default: the server's own SVID) or https_web (CertFile and KeyFile).
	Profile string `yaml:"profile"`
	// CertFile and KeyFile are PEM files for https_web; re-read when they change.
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// RefreshHint is the spiffe_refresh_hint published to partners. Default 5m.
	RefreshHint yamlconf.Duration `yaml:"refresh_hint"`
}

// FederatesWithConfig is one partner's bundle endpoint.
type FederatesWithConfig struct {
	BundleEndpointURL string `yaml:"bundle_endpoint_url"`
	// Profile is https_spiffe or https_web. Required.
	Profile string `yaml:"profile"`
	// EndpointSPIFFEID is the endpoint's SPIFFE ID (https_spiffe), e.g. spiffe://partner.org/spire/server.
	EndpointSPIFFEID string `yaml:"endpoint_spiffe_id"`
	// TrustBundlePath is the partner's bundle to start from (SPIFFE bundle document or
	// PEM), needed by https_spiffe to authenticate the first fetch. Used only while no
	// bundle of the partner is stored.
	TrustBundlePath string `yaml:"trust_bundle_path"`
}

// OIDCConfig is the OpenID Connect discovery endpoint for JWT-SVIDs.
type OIDCConfig struct {
	// Address is host:port to listen on. Default 127.0.0.1:8444; "" disables it.
	Address *string `yaml:"address"`
	// Issuer is the issuer URL; JWT-SVIDs carry it as "iss". Default jwt_issuer, else
	// http(s)://Address. Must equal jwt_issuer when both are set.
	Issuer string `yaml:"issuer"`
	// CertFile and KeyFile serve HTTPS. Without them plain HTTP is served, which is allowed
	// only on a loopback address (cloud providers need HTTPS; put a TLS proxy in front).
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// SetKeyUse publishes "use": "sig" on every key (default true; SPIRE's option of the
	// same name). Set false for relying parties that reject the member.
	SetKeyUse *bool `yaml:"set_key_use"`
}

// OmitKeyUse reports whether the published keys leave out "use".
func (o OIDCConfig) OmitKeyUse() bool { return o.SetKeyUse != nil && !*o.SetKeyUse }

const defaultOIDCAddress = "127.0.0.1:8444"

// OIDCAddr returns the OIDC listener address, "" when disabled.
func (c *Config) OIDCAddr() string {
	if c.OIDC.Address == nil {
		return ""
	}
	return *c.OIDC.Address
}

// BundleEndpointAddr returns host:port of the bundle endpoint, "" when not served.
func (c *Config) BundleEndpointAddr() string {
	be := c.Federation.BundleEndpoint
	if be == nil {
		return ""
	}
	return net.JoinHostPort(be.Address, strconv.Itoa(*be.Port))
}

func (c *Config) validateFederation() error {
	if be := c.Federation.BundleEndpoint; be != nil {
		if be.Address == "" {
			be.Address = "0.0.0.0"
		}
		if be.Port == nil {
			p := 8443
			be.Port = &p
		}
		if be.Profile == "" {
			be.Profile = string(datastore.ProfileHTTPSSPIFFE)
		}
		if be.RefreshHint == 0 {
			be.RefreshHint = yamlconf.Duration(5 * time.Minute)
		}
		if net.ParseIP(be.Address) == nil {
			return yamlconf.FieldError("federation.bundle_endpoint.address", fmt.Sprintf("%q is not an IP address (e.g. 0.0.0.0)", be.Address))
		}
		if *be.Port < 0 || *be.Port > 65535 {
			return yamlconf.FieldError("federation.bundle_endpoint.port", fmt.Sprintf("%d is not a port (0-65535)", *be.Port))
		}
		switch datastore.EndpointProfile(be.Profile) {
		case datastore.ProfileHTTPSSPIFFE:
			if be.CertFile != "" || be.KeyFile != "" {
				return yamlconf.FieldError("federation.bundle_endpoint.cert_file", "is only for profile https_web; https_spiffe serves the server's own SVID")
			}
		case datastore.ProfileHTTPSWeb:
			if be.CertFile == "" || be.KeyFile == "" {
				return yamlconf.FieldError("federation.bundle_endpoint.cert_file", "and key_file are required for profile https_web (PEM certificate chain and key)")
			}
		default:
			return yamlconf.FieldError("federation.bundle_endpoint.profile", fmt.Sprintf("%q: use https_spiffe or https_web", be.Profile))
		}
		if be.RefreshHint.D() < time.Second {
			return yamlconf.FieldError("federation.bundle_endpoint.refresh_hint", "must be at least 1s")
		}
	}
	for _, name := range slices.Sorted(maps.Keys(c.Federation.FederatesWith)) {
		fw := c.Federation.FederatesWith[name]
		field := "federation.federates_with." + name
		// The API stores relationships and bundles under the bare name; a key written as
		// spiffe://partner.org would store this relationship under a name nothing else uses.
		if td, err := spiffeid.TrustDomainFromString(name); err == nil && td.Name() != name {
			return yamlconf.FieldError(field, fmt.Sprintf("names the trust domain as %q: write the bare name, %s", name, td.Name()))
		}
		rel := datastore.FederationRelationship{TrustDomain: name, BundleEndpointURL: fw.BundleEndpointURL,
			Profile: datastore.EndpointProfile(fw.Profile), EndpointSPIFFEID: fw.EndpointSPIFFEID}
		if err := federation.CheckRelationship(&rel, c.TD()); err != nil {
			return yamlconf.FieldError(field, err.Error())
		}
		if fw.TrustBundlePath != "" && rel.Profile != datastore.ProfileHTTPSSPIFFE {
			return yamlconf.FieldError(field+".trust_bundle_path", "is only used by profile https_spiffe")
		}
	}
	return nil
}

func (c *Config) validateOIDC() error {
	addr := c.OIDCAddr()
	if addr == "" {
		return nil
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil || !yamlconf.IsPort(port) {
		return yamlconf.FieldError("oidc.address", fmt.Sprintf("%q must be host:port, or \"\" to disable", addr))
	}
	tls := c.OIDC.CertFile != "" || c.OIDC.KeyFile != ""
	if tls && (c.OIDC.CertFile == "" || c.OIDC.KeyFile == "") {
		return yamlconf.FieldError("oidc.cert_file", "and oidc.key_file must be set together")
	}
	if ip := net.ParseIP(host); !tls && (ip == nil || !ip.IsLoopback()) && host != "localhost" {
		return yamlconf.FieldError("oidc.address", fmt.Sprintf("%q: plain HTTP is allowed only on a loopback address; set oidc.cert_file and "+
			"oidc.key_file (cloud providers fetch the discovery document over HTTPS only)", addr))
	}
	switch {
	case c.OIDC.Issuer == "" && c.JWTIssuer != "":
		c.OIDC.Issuer = c.JWTIssuer
	case c.OIDC.Issuer == "":
		if port == "0" {
			return yamlconf.FieldError("oidc.issuer", "is required when oidc.address has port 0 (the issuer URL must name the real port)")
		}
		scheme := "http"
		if tls {
			scheme = "https"
		}
		c.OIDC.Issuer = scheme + "://" + addr
	}
	if c.JWTIssuer == "" {
		c.JWTIssuer = c.OIDC.Issuer
	}
	if c.JWTIssuer != c.OIDC.Issuer {
		return yamlconf.FieldError("oidc.issuer", fmt.Sprintf("%q differs from jwt_issuer %q: relying parties reject tokens whose iss is not the issuer; set one of them",
			c.OIDC.Issuer, c.JWTIssuer))
	}
	u, err := url.Parse(c.OIDC.Issuer)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return yamlconf.FieldError("oidc.issuer", fmt.Sprintf("%q must be an http(s) URL with a host and no query or fragment", c.OIDC.Issuer))
	}
	return nil
}

// FederationSeeds returns the configured relationships with their bootstrap bundles.
func (c *Config) FederationSeeds() ([]federation.Seed, error) {
	var out []federation.Seed
	for _, name := range slices.Sorted(maps.Keys(c.Federation.FederatesWith)) {
		fw := c.Federation.FederatesWith[name]
		seed := federation.Seed{Relationship: datastore.FederationRelationship{TrustDomain: name, BundleEndpointURL: fw.BundleEndpointURL,
			Profile: datastore.EndpointProfile(fw.Profile), EndpointSPIFFEID: fw.EndpointSPIFFEID}}
		if fw.TrustBundlePath != "" {
			b, err := federation.LoadBundleFile(spiffeid.RequireTrustDomainFromString(name), fw.TrustBundlePath)
			if err != nil {
				return nil, yamlconf.FieldError("federation.federates_with."+name+".trust_bundle_path", err.Error())
			}
			seed.Bootstrap = b
		}
		out = append(out, seed)
	}
	return out, nil
}
