// Package nodeattestors builds the server halves of the node attestors the configuration
// enables, by attestation type: join_token always, k8s_psat, tpm_devid and x509pop when
// configured.
package nodeattestors

import (
	"fmt"
	"log/slog"

	"github.com/spiffe/go-spiffe/v2/bundle/x509bundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"k8s.io/utils/clock"

	"github.com/lanyard-dev/lanyard/attestors"
	"github.com/lanyard-dev/lanyard/attestors/jointoken"
	jointokenverifier "github.com/lanyard-dev/lanyard/attestors/jointoken/verifier"
	"github.com/lanyard-dev/lanyard/attestors/k8spsat/verifier"
	x509popverifier "github.com/lanyard-dev/lanyard/attestors/x509pop/verifier"
	"github.com/lanyard-dev/lanyard/server/config"
)

// Deps is what the verifiers use from the server.
type Deps struct {
	TrustDomain spiffeid.TrustDomain
	// Tokens keeps the join tokens.
	Tokens jointokenverifier.TokenTaker
	// Bundle is the server's own trust bundle (x509pop's spiffe mode).
	Bundle x509bundle.Source
	// Clock is the time evidence is checked at.
	Clock clock.PassiveClock
	Log   *slog.Logger
}

// Verifiers returns the enabled node attestors' verifiers, by attestation type.
func Verifiers(cfg config.NodeAttestors, d Deps) (map[string]attestors.NodeVerifier, error) {
	td, log := d.TrustDomain, d.Log
	vs := map[string]attestors.NodeVerifier{
		jointoken.Type: &jointokenverifier.Verifier{TrustDomain: td, Tokens: d.Tokens, Clock: d.Clock},
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
		v, err := tpmDevIDVerifier(*t, d)
		if err != nil {
			return nil, fmt.Errorf("starting node attestors (node_attestors.tpm_devid): %w", err)
		}
		vs[v.Type()] = v
	}
	if x := cfg.X509PoP; x != nil {
		v, err := x509popverifier.New(x509popverifier.Config{TrustDomain: td, Mode: x.Mode, CABundlePaths: x.BundlePaths(),
			Bundle: d.Bundle, SVIDPrefix: x.SVIDPrefix, AgentPathTemplate: x.AgentPathTemplate, MaxIntermediates: x.MaxIntermediates,
			MaxRSAKeySize: x.MaxRSAKeySize, Clock: d.Clock, Log: log.With("attestor", "x509pop")})
		if err != nil {
			return nil, fmt.Errorf("starting node attestors (node_attestors.x509pop): %w", err)
		}
		vs[v.Type()] = v
	}
	return vs, nil
}
