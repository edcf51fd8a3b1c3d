package server

import (
	"fmt"

	"github.com/lanyard-dev/lanyard/attestors"
	"github.com/lanyard-dev/lanyard/attestors/jointoken"
	jointokenverifier "github.com/lanyard-dev/lanyard/attestors/jointoken/verifier"
	"github.com/lanyard-dev/lanyard/attestors/k8spsat/verifier"
)

// nodeVerifiers builds the server halves of the enabled node attestors, by type.
// join_token is always on; k8s_psat when configured.
func (s *Server) nodeVerifiers() (map[string]attestors.NodeVerifier, error) {
	vs := map[string]attestors.NodeVerifier{
		jointoken.Type: &jointokenverifier.Verifier{TrustDomain: s.td, Tokens: s.store},
	}
	if k := s.cfg.NodeAttestors.K8sPSAT; k != nil {
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
		v, err := verifier.New(verifier.Config{TrustDomain: s.td, Clusters: clusters, Log: s.log.With("attestor", "k8s_psat")})
		if err != nil {
			return nil, fmt.Errorf("starting node attestors (node_attestors.k8s_psat): %w", err)
		}
		vs[v.Type()] = v
	}
	return vs, nil
}
