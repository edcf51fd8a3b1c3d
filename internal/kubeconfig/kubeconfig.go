// Package kubeconfig is how lanyard-server reaches a Kubernetes apiserver (node attestation,
// pod registration, bundle publishing): a kubeconfig file, or the pod's service account
// when no file is configured.
package kubeconfig

import (
	"fmt"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// Load reads the kubeconfig file at path, or the in-cluster service account when path is
// empty, and names lanyard-server and the component (e.g. "k8sreg") in its user agent.
// Errors name the kubeconfig_path setting and what to do.
func Load(path, component string) (*rest.Config, error) {
	var rc *rest.Config
	var err error
	if path == "" {
		if rc, err = rest.InClusterConfig(); err != nil {
			return nil, fmt.Errorf("in-cluster config (set kubeconfig_path when the server runs outside the cluster): %w", err)
		}
	} else if rc, err = clientcmd.BuildConfigFromFlags("", path); err != nil {
		return nil, fmt.Errorf("kubeconfig_path %s: %w", path, err)
	}
	rc.UserAgent = "lanyard-server " + component
	return rc, nil
}
