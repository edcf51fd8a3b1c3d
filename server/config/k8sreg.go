package config

import (
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/lanyard-dev/lanyard/internal/yamlconf"
)

// KubernetesRegistrationConfig turns on the built-in controller that keeps one entry per
// pod selected by an IdentityTemplate (deploy/crds). Absent: off.
type KubernetesRegistrationConfig struct {
	// Cluster is the k8s_psat cluster name this cluster's agents attest with; parent IDs
	// are spiffe://TD/spire/agent/k8s_psat/<cluster>/<node-uid>. Required.
	Cluster string `yaml:"cluster"`
	// KubeconfigPath is a kubeconfig file; empty uses the in-cluster service account.
	KubeconfigPath string `yaml:"kubeconfig_path"`
	// ClusterDomain is offered to templates as .ClusterDomain. Default cluster.local.
	ClusterDomain string `yaml:"cluster_domain"`
	// ResyncInterval reconciles everything even without events. Default 1m.
	ResyncInterval yamlconf.Duration `yaml:"resync_interval"`
}

func (c *Config) validateKubernetesRegistration() error {
	k := c.KubernetesRegistration
	if k == nil {
		return nil
	}
	if k.Cluster == "" || strings.ContainsAny(k.Cluster, "/ ") {
		return yamlconf.FieldError("kubernetes_registration.cluster", fmt.Sprintf("%q: name the cluster as the agents' k8s_psat attestor does (no '/' or spaces)", k.Cluster))
	}
	if err := checkKubeconfig("kubernetes_registration.kubeconfig_path", k.KubeconfigPath); err != nil {
		return err
	}
	if k.ClusterDomain == "" {
		k.ClusterDomain = "cluster.local"
	}
	if k.ResyncInterval == 0 {
		k.ResyncInterval = yamlconf.Duration(time.Minute)
	}
	if k.ResyncInterval.D() < time.Second {
		return yamlconf.FieldError("kubernetes_registration.resync_interval", fmt.Sprintf("(%s) must be at least 1s", k.ResyncInterval.D()))
	}
	return nil
}

// KubernetesBundleConfig publishes the trust bundle into a ConfigMap, for agents in the
// cluster to mount as trust_bundle_path. Absent: off.
type KubernetesBundleConfig struct {
	// Namespace and ConfigMap name the ConfigMap (created if missing). Required.
	Namespace string `yaml:"namespace"`
	ConfigMap string `yaml:"config_map"`
	// Key is the data key holding the PEM certificates. Default bundle.pem.
	Key string `yaml:"key"`
	// KubeconfigPath is a kubeconfig file; empty uses the in-cluster service account.
	KubeconfigPath string `yaml:"kubeconfig_path"`
}

func (c *Config) validateKubernetesBundle() error {
	k := c.KubernetesBundle
	if k == nil {
		return nil
	}
	if k.Namespace == "" {
		return yamlconf.FieldError("kubernetes_bundle.namespace", "is required")
	}
	if k.ConfigMap == "" {
		return yamlconf.FieldError("kubernetes_bundle.config_map", "is required")
	}
	if k.Key == "" {
		k.Key = "bundle.pem"
	}
	if err := checkKubeconfig("kubernetes_bundle.kubeconfig_path", k.KubeconfigPath); err != nil {
		return err
	}
	return nil
}

// checkKubeconfig accepts "" (in-cluster) or a file that exists.
func checkKubeconfig(field, path string) error {
	if path == "" {
		return nil
	}
	if _, err := os.Stat(path); err != nil {
		return yamlconf.FieldError(field, fmt.Sprintf("%q: %v (leave it empty to use the in-cluster service account)", path, err))
	}
	return nil
}
