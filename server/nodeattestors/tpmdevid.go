package nodeattestors

import (
	"crypto/x509"
	"log/slog"

	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/lanyard-dev/lanyard/attestors/tpmdevid"
	"github.com/lanyard-dev/lanyard/attestors/tpmdevid/verifier"
	"github.com/lanyard-dev/lanyard/server/config"
)

// tpmDevIDVerifier reads the CA files; they are read once, at start (as SPIRE does).
func tpmDevIDVerifier(c config.TPMDevID, td spiffeid.TrustDomain, log *slog.Logger) (*verifier.Verifier, error) {
	devID, err := certPool("devid_ca_path", c.DevIDCAPath)
	if err != nil {
		return nil, err
	}
	ek, err := certPool("endorsement_ca_path", c.EndorsementCAPath)
	if err != nil {
		return nil, err
	}
	return verifier.New(verifier.Config{TrustDomain: td, DevIDRoots: devID, EKRoots: ek, Log: log.With("attestor", tpmdevid.Type)})
}

func certPool(field, path string) (*x509.CertPool, error) {
	certs, err := tpmdevid.ReadCertificates(field, path)
	if err != nil {
		return nil, err
	}
	p := x509.NewCertPool()
	for _, c := range certs {
		p.AddCert(c)
	}
	return p, nil
}
