package config

import (
	"fmt"
	"sort"
	"strings"

	"github.com/lanyard-dev/lanyard/internal/yamlconf"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
)

// NodeAttestors configures the server halves of node attestors. join_token is always
// enabled; the others are enabled by giving them a section.
type NodeAttestors struct {
	// K8sPSAT enables k8s_psat: agents in Kubernetes pods attest with their projected
	// service account token, checked with each cluster's TokenReview API.
	K8sPSAT *K8sPSAT `yaml:"k8s_psat"`
	// TPMDevID enables tpm_devid: agents prove a DevID key in a genuine TPM.
	TPMDevID *TPMDevID `yaml:"tpm_devid"`
	// X509PoP enables x509pop: agents prove they hold the key of a node certificate
	// issued by the operator's CAs (see x509pop.go).
	X509PoP *X509PoP `yaml:"x509pop"`
}

// K8sPSAT configures the k8s_psat verifier.
type K8sPSAT struct {
	// Clusters are keyed by the name agents send (their k8s_psat.cluster). Required.
	Clusters map[string]K8sPSATCluster `yaml:"clusters"`
}

// K8sPSATCluster says how to reach one cluster and which agents in it are accepted.
type K8sPSATCluster struct {
	// ServiceAccountAllowList holds "namespace:name" of the agents' ServiceAccounts. Required.
	ServiceAccountAllowList []string `yaml:"service_account_allow_list"`
	// KubeconfigPath reaches the cluster from outside it. Default "": in-cluster config.
	KubeconfigPath string `yaml:"kubeconfig_path"`
	// Audience the agents' tokens must be issued for. Default [spire-server]; an empty
	// list accepts the apiserver's own audiences.
	Audience *[]string `yaml:"audience"`
	// AllowedNodeLabelKeys and AllowedPodLabelKeys name the labels that become
	// agent_node_label / agent_pod_label selectors. Default none.
	AllowedNodeLabelKeys []string `yaml:"allowed_node_label_keys"`
	AllowedPodLabelKeys  []string `yaml:"allowed_pod_label_keys"`
}

// validate checks the section; the verifier checks reachability at start.
func (k *K8sPSAT) validate() error {
	const field = "node_attestors.k8s_psat.clusters"
	if len(k.Clusters) == 0 {
		return yamlconf.FieldError(field, "is empty: name at least one cluster, e.g. clusters: {prod: {service_account_allow_list: [\"spire:spire-agent\"]}}")
	}
	names := make([]string, 0, len(k.Clusters))
	for name := range k.Clusters {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		c := k.Clusters[name]
		// The name becomes a segment of agent IDs.
		if err := spiffeid.ValidatePathSegment(name); err != nil {
			return yamlconf.FieldError(field+"."+name, fmt.Sprintf("is not a usable cluster name (it becomes part of agent IDs; use letters, digits, '-', '_' or '.'): %v", err))
		}
		f := field + "." + name + ".service_account_allow_list"
		if len(c.ServiceAccountAllowList) == 0 {
			return yamlconf.FieldError(f, "is required: list the agents' ServiceAccounts as \"namespace:name\"")
		}
		for _, sa := range c.ServiceAccountAllowList {
			ns, n, ok := strings.Cut(sa, ":")
			if !ok || ns == "" || n == "" || strings.Contains(n, ":") {
				return yamlconf.FieldError(f, fmt.Sprintf("entry %q is not \"namespace:name\"", sa))
			}
		}
		if c.Audience != nil {
			for _, a := range *c.Audience {
				if a == "" {
					return yamlconf.FieldError(field+"."+name+".audience", "holds an empty audience")
				}
			}
		}
	}
	return nil
}
