package config

import (
	"fmt"

	"github.com/lanyard-dev/lanyard/internal/yamlconf"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
)

// Node attestation methods (node_attestor).
const (
	JoinToken = "join_token"
	K8sPSAT   = "k8s_psat"
)

// K8sPSATAttestor configures the k8s_psat node attestor: the agent runs in a pod and
// proves it with its projected service account token.
type K8sPSATAttestor struct {
	// Cluster is the name the server knows this cluster by. Required.
	Cluster string `yaml:"cluster"`
	// TokenPath is the projected token file. Default /var/run/secrets/tokens/spire-agent.
	TokenPath string `yaml:"token_path"`
	// Audience the token must be issued for. Default spire-server.
	Audience string `yaml:"audience"`
}

// K8sAttestor configures the k8s workload attestor; giving the section enables it.
// Zero values take the attestor's defaults.
type K8sAttestor struct {
	// KubeletHost is where the kubelet is reached. Default node_name, else 127.0.0.1.
	KubeletHost string `yaml:"kubelet_host"`
	// KubeletSecurePort is the kubelet's authenticated HTTPS port. Default 10250.
	KubeletSecurePort int `yaml:"kubelet_secure_port"`
	// KubeletReadOnlyPort, when set, is used instead: plain HTTP, no authentication.
	KubeletReadOnlyPort int `yaml:"kubelet_read_only_port"`
	// KubeletCAPath verifies the kubelet's certificate. Default: the service account CA.
	KubeletCAPath string `yaml:"kubelet_ca_path"`
	// SkipKubeletVerification accepts any kubelet certificate (not recommended).
	SkipKubeletVerification bool `yaml:"skip_kubelet_verification"`
	// TokenPath is the bearer token for the secure port. Default: the service account token.
	TokenPath string `yaml:"token_path"`
	// NodeName is this node's name. Default: the environment variable node_name_env.
	NodeName string `yaml:"node_name"`
	// NodeNameEnv names that variable. Default MY_NODE_NAME.
	NodeNameEnv string `yaml:"node_name_env"`
}

// Attestor is the node attestation method: node_attestor, or join_token by default.
func (c *Config) Attestor() string {
	if c.NodeAttestor == "" {
		return JoinToken
	}
	return c.NodeAttestor
}

func (c *Config) validateAttestors() error {
	if err := c.validateTPMDevID(); err != nil {
		return err
	}
	switch c.Attestor() {
	case JoinToken:
		if c.K8sPSAT.Cluster != "" {
			return yamlconf.FieldError("k8s_psat.cluster", "is set but node_attestor is join_token: set node_attestor: k8s_psat")
		}
	case K8sPSAT:
		if c.JoinToken != "" {
			return yamlconf.FieldError("join_token", "cannot be combined with node_attestor: k8s_psat: remove one")
		}
		if c.K8sPSAT.Cluster == "" {
			return yamlconf.FieldError("k8s_psat.cluster", "is required with node_attestor: k8s_psat: name the cluster as the server's node_attestors.k8s_psat.clusters does")
		}
		if err := spiffeid.ValidatePathSegment(c.K8sPSAT.Cluster); err != nil {
			return yamlconf.FieldError("k8s_psat.cluster", fmt.Sprintf("%q cannot be part of an agent ID: %v", c.K8sPSAT.Cluster, err))
		}
	case TPMDevID:
	case X509PoP:
		if c.K8sPSAT.Cluster != "" {
			return yamlconf.FieldError("k8s_psat.cluster", "is set but node_attestor is x509pop: remove it")
		}
	default:
		return yamlconf.FieldError("node_attestor", fmt.Sprintf("%q: use join_token, k8s_psat, tpm_devid or x509pop", c.NodeAttestor))
	}
	if err := c.validateX509PoP(); err != nil {
		return err
	}
	if k := c.WorkloadAttestors.K8s; k != nil {
		for _, p := range []struct {
			name string
			v    int
		}{{"kubelet_secure_port", k.KubeletSecurePort}, {"kubelet_read_only_port", k.KubeletReadOnlyPort}} {
			if p.v < 0 || p.v > 65535 {
				return yamlconf.FieldError("workload_attestors.k8s."+p.name, fmt.Sprintf("%d is not a port (1-65535)", p.v))
			}
		}
		if k.SkipKubeletVerification && k.KubeletCAPath != "" {
			return yamlconf.FieldError("workload_attestors.k8s.skip_kubelet_verification", "cannot be combined with kubelet_ca_path: pick one")
		}
	}
	return nil
}
