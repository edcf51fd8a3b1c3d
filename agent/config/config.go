// Package config is lanyard-agent's configuration file: YAML with documented defaults,
// validated at start with errors that name the field to fix.
package config

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"

	"github.com/lanyard-dev/lanyard/internal/unixsock"

	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/lanyard-dev/lanyard/internal/yamlconf"
)

// Config is the agent configuration.
type Config struct {
	// TrustDomain the agent belongs to. Required.
	TrustDomain string `yaml:"trust_domain"`
	// ServerAddress and ServerPort locate lanyard-server. Default 127.0.0.1:8081. Several
	// addresses (servers sharing a datastore) are tried in order; so are the several records
	// of a DNS name.
	ServerAddress Addresses `yaml:"server_address"`
	ServerPort    int       `yaml:"server_port"`
	// DataDir keeps the agent SVID, its key (0600) and the last bundle across restarts. Default .lanyard/agent.
	DataDir string `yaml:"data_dir"`
	// SocketPath is the Workload API unix socket. Default /run/lanyard/sockets/api.sock, or
	// under $XDG_RUNTIME_DIR/lanyard when /run/lanyard is not writable (see
	// unixsock.DefaultPath).
	SocketPath string `yaml:"socket_path"`
	// AdminSocketPath, when set, is a unix socket (mode 0600) serving the agent's admin
	// API: SPIRE's agent Logger and Debug services, for `lanyard-agent logger|debug`. Off by
	// default. It must not be in the Workload API socket's directory (or below it), which
	// workloads can reach.
	AdminSocketPath string `yaml:"admin_socket_path"`
	// AuthorizedDelegates are the SPIFFE IDs (SPIRE's key and meaning) of workloads that may
	// use the Delegated Identity API on the admin socket to get other workloads' SVIDs: a
	// caller is authorized while it holds an unexpired SVID from this agent naming one of
	// them. Needs admin_socket_path. Default none (the API answers PermissionDenied).
	AuthorizedDelegates []string `yaml:"authorized_delegates"`
	// BrokerAPI, when set, serves the SPIFFE Broker API. Off by default.
	BrokerAPI *BrokerAPI `yaml:"broker_api"`
	// HealthAddress serves /healthz, /readyz and /metrics over HTTP. Default 127.0.0.1:8083; "" disables it.
	HealthAddress *string `yaml:"health_address"`
	// NodeAttestor is how the agent proves its node: join_token (default), k8s_psat, tpm_devid or x509pop.
	NodeAttestor string `yaml:"node_attestor"`
	// JoinToken attests the agent with the join_token method (single use).
	JoinToken string `yaml:"join_token"`
	// K8sPSAT configures node_attestor: k8s_psat.
	K8sPSAT K8sPSATAttestor `yaml:"k8s_psat"`
	// TPMDevID configures node_attestor: tpm_devid.
	TPMDevID TPMDevIDAttestor `yaml:"tpm_devid"`
	// X509PoP configures node_attestor: x509pop.
	X509PoP X509PoPAttestor `yaml:"x509pop"`
	// TrustBundlePath is a PEM file with the server's CA certificates, used to verify the server
	// before the agent has a bundle of its own.
	TrustBundlePath string `yaml:"trust_bundle_path"`
	// InsecureBootstrap skips verifying the server on the very first connection. Only for trying
	// things out: an attacker in the middle could hand the agent a bundle of its choosing.
	InsecureBootstrap bool `yaml:"insecure_bootstrap"`
	// WorkloadAPI limits the Workload API's connections.
	WorkloadAPI WorkloadAPI `yaml:"workload_api"`
	// WorkloadAttestors configures the workload attestors.
	WorkloadAttestors WorkloadAttestors `yaml:"workload_attestors"`
	// LogLevel is debug, info (default), warn or error; LogFormat text (default) or json.
	LogLevel  string `yaml:"log_level"`
	LogFormat string `yaml:"log_format"`
}

// WorkloadAPI caps the Workload API connections held open, so that one local user cannot
// take every file descriptor of the agent. Connections over a cap are closed at once.
type WorkloadAPI struct {
	// MaxConnectionsPerUID is the most connections one uid may hold. Default 1000.
	MaxConnectionsPerUID int `yaml:"max_connections_per_uid"`
	// MaxConnections is the most connections all callers may hold together. Default
	// 10000. Both are lowered, with a warning, to fit the open file limit.
	MaxConnections int `yaml:"max_connections"`
	// WITSVIDs serves WIT-SVIDs (FetchWITSVID, FetchWITBundles): the agent mints one for
	// an entry once a workload it matches has asked for WIT-SVIDs. Default true; false
	// answers the WIT methods Unimplemented, which clients read as "not offered".
	WITSVIDs *bool `yaml:"wit_svids"`
	// MaxResponseBytes bounds each Workload API response; a workload matched by more
	// entries than fit gets the first ones (its default SVID first) and the agent warns.
	// Default 4 MiB, gRPC's default receive limit, which the SPIFFE client libraries
	// keep: raise it only when every workload's client raises its limit too.
	MaxResponseBytes int `yaml:"max_response_bytes"`
}

// minResponseBytes is the least workload_api.max_response_bytes: one SVID with its chain
// and bundle must fit.
const minResponseBytes = 64 << 10

// WITSVIDsOn reports whether the agent serves WIT-SVIDs (workload_api.wit_svids).
func (w WorkloadAPI) WITSVIDsOn() bool { return w.WITSVIDs == nil || *w.WITSVIDs }

// BrokerAPI is the SPIFFE Broker Endpoint: brokers (infrastructure acting for workloads
// on this node) call it over mutual TLS with their X.509-SVIDs.
type BrokerAPI struct {
	// SocketPath is the unix socket it listens on (mode 0666: mutual TLS decides who may
	// call). Required. Not in the Workload API socket's directory.
	SocketPath string `yaml:"socket_path"`
	// AuthorizedBrokers are the SPIFFE IDs (of the agent's trust domain) allowed to call.
	// Required.
	AuthorizedBrokers []string `yaml:"authorized_brokers"`
}

// WorkloadAttestors configures each workload attestor.
type WorkloadAttestors struct {
	Unix UnixAttestor `yaml:"unix"`
	// K8s enables the Kubernetes workload attestor when present.
	K8s *K8sAttestor `yaml:"k8s"`
}

// UnixAttestor configures the unix workload attestor.
type UnixAttestor struct {
	// DiscoverWorkloadPath adds unix:path and unix:sha256 selectors. Default true.
	DiscoverWorkloadPath *bool `yaml:"discover_workload_path"`
}

// Default returns the configuration with every default filled in.
func Default() Config {
	health := "127.0.0.1:8083"
	return Config{
		ServerAddress: Addresses{"127.0.0.1"},
		ServerPort:    8081,
		DataDir:       ".lanyard/agent",
		SocketPath:    unixsock.DefaultPath(unixsock.AgentAPI),
		WorkloadAPI:   WorkloadAPI{MaxConnectionsPerUID: 1000, MaxConnections: 10000},
		HealthAddress: &health,
		LogLevel:      "info",
		LogFormat:     "text",
	}
}

// Parse reads YAML documents (the file, then e.g. the settings of command-line flags)
// over the defaults and validates the result.
func Parse(docs ...[]byte) (Config, error) {
	cfg := Default()
	if err := yamlconf.Parse(&cfg, docs...); err != nil {
		return Config{}, err
	}
	return cfg, cfg.Validate()
}

// Load reads a YAML file over the defaults and validates it.
func Load(path string) (Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("reading config: %w", err)
	}
	return Parse(data)
}

// Validate checks every field.
func (c *Config) Validate() error {
	if c.TrustDomain == "" {
		return yamlconf.FieldError("trust_domain", "is required, e.g. trust_domain: example.org")
	}
	if _, err := spiffeid.TrustDomainFromString(c.TrustDomain); err != nil {
		return yamlconf.FieldError("trust_domain", fmt.Sprintf("%q is not a valid trust domain name: %v", c.TrustDomain, err))
	}
	if err := c.validateServerAddress(); err != nil {
		return err
	}
	if c.DataDir == "" {
		return yamlconf.FieldError("data_dir", "must not be empty")
	}
	if !filepath.IsAbs(c.SocketPath) {
		return yamlconf.FieldError("socket_path", fmt.Sprintf("%q must be an absolute path", c.SocketPath))
	}
	if len(c.SocketPath) > 100 {
		return yamlconf.FieldError("socket_path", "is longer than the 100 bytes a unix socket path may have here")
	}
	if err := c.validateAdminSocket(); err != nil {
		return err
	}
	if err := c.validateDelegates(); err != nil {
		return err
	}
	if err := c.validateBroker(); err != nil {
		return err
	}
	if c.WorkloadAPI.MaxConnectionsPerUID < 1 {
		return yamlconf.FieldError("workload_api.max_connections_per_uid", "must be at least 1 (default 1000)")
	}
	if m := c.WorkloadAPI.MaxResponseBytes; m != 0 && m < minResponseBytes {
		return yamlconf.FieldError("workload_api.max_response_bytes", fmt.Sprintf("%d is below %d (64 KiB): leave it unset for 4 MiB", m, minResponseBytes))
	}
	if c.WorkloadAPI.MaxConnections < c.WorkloadAPI.MaxConnectionsPerUID {
		return yamlconf.FieldError("workload_api.max_connections", fmt.Sprintf("(%d) must be at least workload_api.max_connections_per_uid (%d)", c.WorkloadAPI.MaxConnections, c.WorkloadAPI.MaxConnectionsPerUID))
	}
	if c.HealthAddress != nil && *c.HealthAddress != "" {
		if _, port, err := net.SplitHostPort(*c.HealthAddress); err != nil || !yamlconf.IsPort(port) {
			return yamlconf.FieldError("health_address", fmt.Sprintf("%q must be host:port, or \"\" to disable", *c.HealthAddress))
		}
	}
	if c.TrustBundlePath != "" && c.InsecureBootstrap {
		return yamlconf.FieldError("insecure_bootstrap", "cannot be combined with trust_bundle_path: pick one")
	}
	if err := c.validateAttestors(); err != nil {
		return err
	}
	return yamlconf.Logging(c.LogLevel, c.LogFormat)
}

// validateAdminSocket keeps the admin socket out of workloads' reach: the Workload API
// socket's directory is what gets shared with them (a hostPath mount, say).
func (c *Config) validateAdminSocket() error {
	if c.AdminSocketPath == "" {
		return nil
	}
	if !filepath.IsAbs(c.AdminSocketPath) {
		return yamlconf.FieldError("admin_socket_path", fmt.Sprintf("%q must be an absolute path", c.AdminSocketPath))
	}
	if len(c.AdminSocketPath) > 100 {
		return yamlconf.FieldError("admin_socket_path", "is longer than the 100 bytes a unix socket path may have here")
	}
	admin, api := filepath.Clean(c.AdminSocketPath), filepath.Clean(c.SocketPath)
	if admin == api {
		return yamlconf.FieldError("admin_socket_path", "is the Workload API's socket_path: give the admin socket its own path, in another directory")
	}
	if dir := filepath.Dir(api); strings.HasPrefix(admin, dir+string(filepath.Separator)) {
		return yamlconf.FieldError("admin_socket_path", fmt.Sprintf("%s is in the directory of the Workload API socket (%s), which workloads can reach: "+
			"put it in a directory of its own, e.g. %s", admin, dir, filepath.Join(filepath.Dir(dir), "admin", "agent.sock")))
	}
	return nil
}

// validateDelegates checks that authorized_delegates name SPIFFE IDs this agent can issue.
func (c *Config) validateDelegates() error {
	if len(c.AuthorizedDelegates) > 0 && c.AdminSocketPath == "" {
		return yamlconf.FieldError("authorized_delegates", "needs admin_socket_path: the Delegated Identity API is served on the admin socket")
	}
	return c.validateIDs("authorized_delegates", c.AuthorizedDelegates)
}

// validateIDs checks a list of SPIFFE IDs that must be of the agent's trust domain.
func (c *Config) validateIDs(key string, list []string) error {
	td := c.TD()
	for i, s := range list {
		field := fmt.Sprintf("%s[%d]", key, i)
		id, err := spiffeid.FromString(s)
		if err != nil {
			return yamlconf.FieldError(field, fmt.Sprintf("%q is not a SPIFFE ID (spiffe://%s/path): %v", s, c.TrustDomain, err))
		}
		if id.MemberOf(td) {
			continue
		}
		return yamlconf.FieldError(field, fmt.Sprintf("%s is not in trust domain %s: callers are checked against this agent's "+
			"SVIDs and bundle, so they hold SVIDs of its own trust domain only", s, c.TrustDomain))
	}
	return nil
}

// validateBroker checks broker_api.
func (c *Config) validateBroker() error {
	b := c.BrokerAPI
	if b == nil {
		return nil
	}
	if !filepath.IsAbs(b.SocketPath) || len(b.SocketPath) > 100 {
		return yamlconf.FieldError("broker_api.socket_path", fmt.Sprintf("%q must be an absolute path of at most 100 bytes, e.g. /run/lanyard/broker/api.sock", b.SocketPath))
	}
	if dir := filepath.Dir(filepath.Clean(c.SocketPath)); filepath.Dir(filepath.Clean(b.SocketPath)) == dir {
		return yamlconf.FieldError("broker_api.socket_path", fmt.Sprintf("is in the Workload API socket's directory %s: give it a directory of its own", dir))
	}
	if len(b.AuthorizedBrokers) == 0 {
		return yamlconf.FieldError("broker_api.authorized_brokers", "is required: the SPIFFE IDs of the brokers allowed to call")
	}
	return c.validateIDs("broker_api.authorized_brokers", b.AuthorizedBrokers)
}

// DelegateIDs returns authorized_delegates parsed (Validate must have passed).
func (c *Config) DelegateIDs() []spiffeid.ID { return parseIDs(c.AuthorizedDelegates) }

// BrokerIDs returns broker_api.authorized_brokers parsed (Validate must have passed).
func (c *Config) BrokerIDs() []spiffeid.ID { return parseIDs(c.BrokerAPI.AuthorizedBrokers) }

func parseIDs(list []string) []spiffeid.ID {
	ids := make([]spiffeid.ID, len(list))
	for i, s := range list {
		ids[i] = spiffeid.RequireFromString(s)
	}
	return ids
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

// DiscoverWorkloadPath reports whether unix:path/unix:sha256 selectors are produced.
func (c *Config) DiscoverWorkloadPath() bool {
	p := c.WorkloadAttestors.Unix.DiscoverWorkloadPath
	return p == nil || *p
}
