package nodeattestors

import (
	"crypto/x509"
	"fmt"

	"github.com/lanyard-dev/lanyard/attestors/tpmdevid"
	"github.com/lanyard-dev/lanyard/attestors/tpmdevid/verifier"
	"github.com/lanyard-dev/lanyard/internal/pemcert"
	"github.com/lanyard-dev/lanyard/server/config"
)

// tpmDevIDVerifier reads the CA files; they are read once, at start (as SPIRE does).
func tpmDevIDVerifier(c config.TPMDevID, d Deps) (*verifier.Verifier, error) {
	devID, err := certPool("devid_ca_path", c.DevIDCAPath)
	if err != nil {
		return nil, err
	}
	ek, err := certPool("endorsement_ca_path", c.EndorsementCAPath)
	if err != nil {
		return nil, err
	}
	return verifier.New(verifier.Config{TrustDomain: d.TrustDomain, DevIDRoots: devID, EKRoots: ek, Clock: d.Clock,
		Log: d.Log.With("attestor", tpmdevid.Type)})
}

func certPool(field, path string) (*x509.CertPool, error) {
	certs, err := pemcert.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", field, err)
	}
	p := x509.NewCertPool()
	for _, c := range certs {
		p.AddCert(c)
	}
	return p, nil
}
