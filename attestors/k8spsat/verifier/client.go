package verifier

import (
	"fmt"
	"time"

	"k8s.io/client-go/kubernetes"

	"github.com/lanyard-dev/lanyard/internal/kubeconfig"
)

// apiTimeout bounds each apiserver call, so a hung cluster cannot stall attestation
// beyond the caller's deadline either.
const apiTimeout = 15 * time.Second

func newClient(kubeconfigPath string) (kubernetes.Interface, error) {
	cfg, err := kubeconfig.Load(kubeconfigPath, "k8s_psat")
	if err != nil {
		return nil, err
	}
	cfg.Timeout = apiTimeout
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("kubernetes client: %w", err)
	}
	return client, nil
}
