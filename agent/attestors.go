package agent

import (
	"errors"
	"fmt"

	"github.com/lanyard-dev/lanyard/agent/config"
	"github.com/lanyard-dev/lanyard/attestors"
	"github.com/lanyard-dev/lanyard/attestors/jointoken"
	"github.com/lanyard-dev/lanyard/attestors/k8s"
	"github.com/lanyard-dev/lanyard/attestors/k8spsat"
	"github.com/lanyard-dev/lanyard/attestors/unix"
)

// nodeProver is the agent half of the configured node attestor.
func (a *Agent) nodeProver() (attestors.NodeProver, error) {
	switch a.cfg.Attestor() {
	case config.K8sPSAT:
		c := a.cfg.K8sPSAT
		return k8spsat.Prover{Cluster: c.Cluster, TokenPath: c.TokenPath, Audience: c.Audience}, nil
	default:
		if a.cfg.JoinToken == "" {
			return nil, errors.New("no valid agent SVID saved and no join_token configured: generate one with `lanyard-server token generate`")
		}
		return jointoken.Prover{Token: a.cfg.JoinToken}, nil
	}
}

// reattestable reports whether the node attestor can prove the node again at any
// time, so the agent re-attests instead of renewing and after an eviction.
func (a *Agent) reattestable() bool { return a.cfg.Attestor() == config.K8sPSAT }

// workloadAttestors builds the enabled workload attestors: unix always, k8s when configured.
func (a *Agent) workloadAttestors() ([]attestors.WorkloadAttestor, error) {
	list := []attestors.WorkloadAttestor{unix.New(unix.Config{DiscoverWorkloadPath: a.cfg.DiscoverWorkloadPath()})}
	if c := a.cfg.WorkloadAttestors.K8s; c != nil {
		k, err := k8s.New(k8s.Config{
			KubeletHost:             c.KubeletHost,
			SecurePort:              c.KubeletSecurePort,
			ReadOnlyPort:            c.KubeletReadOnlyPort,
			KubeletCAPath:           c.KubeletCAPath,
			SkipKubeletVerification: c.SkipKubeletVerification,
			TokenPath:               c.TokenPath,
			NodeName:                c.NodeName,
			NodeNameEnv:             c.NodeNameEnv,
			Log:                     a.log.With("attestor", "k8s"),
		})
		if err != nil {
			return nil, fmt.Errorf("workload_attestors.k8s: %w", err)
		}
		list = append(list, k)
	}
	return list, nil
}
