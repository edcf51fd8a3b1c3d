package workloadapi

import (
	"fmt"
	"log/slog"

	"github.com/lanyard-dev/lanyard/agent/config"
	"github.com/lanyard-dev/lanyard/attestors"
	"github.com/lanyard-dev/lanyard/attestors/k8s"
	"github.com/lanyard-dev/lanyard/attestors/unix"
)

// NewAttestors builds the workload attestors the agent's configuration enables: unix
// always, k8s when workload_attestors.k8s is set.
func NewAttestors(cfg config.Config, log *slog.Logger) ([]attestors.WorkloadAttestor, error) {
	list := []attestors.WorkloadAttestor{unix.New(unix.Config{DiscoverWorkloadPath: cfg.DiscoverWorkloadPath()})}
	if c := cfg.WorkloadAttestors.K8s; c != nil {
		k, err := k8s.New(k8s.Config{
			KubeletHost:             c.KubeletHost,
			SecurePort:              c.KubeletSecurePort,
			ReadOnlyPort:            c.KubeletReadOnlyPort,
			KubeletCAPath:           c.KubeletCAPath,
			SkipKubeletVerification: c.SkipKubeletVerification,
			TokenPath:               c.TokenPath,
			NodeName:                c.NodeName,
			NodeNameEnv:             c.NodeNameEnv,
			Log:                     log.With("attestor", "k8s"),
		})
		if err != nil {
			return nil, fmt.Errorf("workload_attestors.k8s: %w", err)
		}
		list = append(list, k)
	}
	return list, nil
}
