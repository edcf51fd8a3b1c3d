package attest

import (
	"github.com/lanyard-dev/lanyard/agent/config"
	"github.com/lanyard-dev/lanyard/attestors/tpmdevid"
)

func tpmDevIDProver(c config.TPMDevIDAttestor) (*tpmdevid.Prover, error) {
	return tpmdevid.NewProver(tpmdevid.ProverConfig{
		DevicePath:                   c.DevicePath,
		DevIDCertPath:                c.DevIDCertPath,
		DevIDPrivPath:                c.DevIDPrivPath,
		DevIDPubPath:                 c.DevIDPubPath,
		DevIDPassword:                c.DevIDPassword,
		OwnerHierarchyPassword:       c.OwnerHierarchyPassword,
		EndorsementHierarchyPassword: c.EndorsementHierarchyPassword,
	})
}
