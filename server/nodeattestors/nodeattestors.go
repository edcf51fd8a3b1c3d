// Package nodeattestors builds the server halves of the node attestors the configuration
// enables, by attestation type: join_token always, k8s_psat and tpm_devid when configured.
package nodeattestors

import (
	"fmt"
	"log/slog"

	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/lanyard-dev/lanyard/attestors"
	"github.com/lanyard-dev/lanyard/attestors/jointoken"
	jointokenverifier "github.com/lanyard-dev/lanyard/attestors/jointoken/verifier"
	"github.com/lanyard-dev/lanyard/attestors/k8spsat/verifier"
	"github.com/lanyard-dev/lanyard/server/config"
)

// Verifiers returns the enabled node attestors' verifiers, by attestation type; tokens
// keeps the join tokens.
func Verifiers(cfg config.NodeAttestors, td spiffeid.TrustDomain, tokens jointokenverifier.TokenTaker, log *slog.Logger) (map[string]attestors.NodeVerifier, error) {
	vs := map[string]attestors.NodeVerifier{
		jointoken.Type: &jointokenverifier.Verifier{TrustDomain: td, Tokens: tokens},
	}
	if k := cfg.K8sPSAT; k != nil {
		clusters := make(map[string]verifier.ClusterConfig, len(k.Clusters))
		for name, c := range k.Clusters {
			cc := verifier.ClusterConfig{
				ServiceAccountAllowList: c.ServiceAccountAllowList,
				KubeconfigFile:          c.KubeconfigPath,
				AllowedNodeLabelKeys:    c.AllowedNodeLabelKeys,
				AllowedPodLabelKeys:     c.AllowedPodLabelKeys,
			}
			if c.Audience != nil {
				cc.Audience = append([]string{}, *c.Audience...)
			}
			clusters[name] = cc
		}
		v, err := verifier.New(verifier.Config{TrustDomain: td, Clusters: clusters, Log: log.With("attestor", "k8s_psat")})
		if err != nil {
			return nil, fmt.Errorf("starting node attestors (node_attestors.k8s_psat): %w", err)
		}
		vs[v.Type()] = v
	}
	if t := cfg.TPMDevID; t != nil {
		v, err := tpmDevIDVerifier(*t, td, log)
		if err != nil {
			return nil, fmt.Errorf("starting node attestors (node_attestors.tpm_devid): %w", err)
		}
		vs[v.Type()] = v
	}
	return vs, nil
}
