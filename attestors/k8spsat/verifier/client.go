package verifier

import (
	"fmt"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// apiTimeout bounds each apiserver call, so a hung cluster cannot stall attestation
// beyond the caller's deadline either.
const apiTimeout = 15 * time.Second

func newClient(kubeconfig string) (kubernetes.Interface, error) {
	var cfg *rest.Config
	var err error
	if kubeconfig == "" {
		cfg, err = rest.InClusterConfig()
		if err != nil {
			return nil, fmt.Errorf("in-cluster config (set kubeconfig_path when the server runs outside the cluster): %w", err)
		}
	} else {
		cfg, err = clientcmd.BuildConfigFromFlags("", kubeconfig)
		if err != nil {
			return nil, fmt.Errorf("kubeconfig_path %s: %w", kubeconfig, err)
		}
	}
	cfg.Timeout = apiTimeout
	cfg.UserAgent = "lanyard-server k8s_psat"
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("kubernetes client: %w", err)
	}
	return client, nil
}
