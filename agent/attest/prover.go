package attest

import (
	"errors"

	"github.com/lanyard-dev/lanyard/agent/config"
	"github.com/lanyard-dev/lanyard/attestors"
	"github.com/lanyard-dev/lanyard/attestors/jointoken"
	"github.com/lanyard-dev/lanyard/attestors/k8spsat"
	"github.com/lanyard-dev/lanyard/attestors/x509pop"
)

// NodeProver is the agent half of the configured node attestor.
func NodeProver(cfg config.Config) (attestors.NodeProver, error) {
	switch cfg.Attestor() {
	case config.K8sPSAT:
		c := cfg.K8sPSAT
		return k8spsat.Prover{Cluster: c.Cluster, TokenPath: c.TokenPath, Audience: c.Audience}, nil
	case config.TPMDevID:
		return tpmDevIDProver(cfg.TPMDevID)
	case config.X509PoP:
		c := cfg.X509PoP
		return &x509pop.Prover{CertificatePath: c.CertificatePath, PrivateKeyPath: c.PrivateKeyPath, IntermediatesPath: c.IntermediatesPath}, nil
	default:
		if cfg.JoinToken == "" {
			return nil, errors.New("no valid agent SVID saved and no join_token configured: generate one with `lanyard-server token generate`")
		}
		return jointoken.Prover{Token: cfg.JoinToken}, nil
	}
}

// Reattestable reports whether the configured node attestor can prove the node again at
// any time, so that the agent attests again instead of renewing, and after an eviction.
func Reattestable(cfg config.Config) bool {
	switch cfg.Attestor() {
	case config.K8sPSAT, config.TPMDevID, config.X509PoP:
		return true
	}
	return false
}
