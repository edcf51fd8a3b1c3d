package config

import "github.com/lanyard-dev/lanyard/internal/yamlconf"

// X509PoP is the x509pop node attestation method (node_attestor: x509pop).
const X509PoP = "x509pop"

// X509PoPAttestor configures the x509pop node attestor (SPIRE's plugin_data names): the
// agent proves it holds the key of a certificate the operator's PKI issued to the node.
// The files are read at every attestation, so a certificate renewed on disk is sent at
// the next renewal.
type X509PoPAttestor struct {
	// CertificatePath is the node's certificate (PEM), optionally followed by
	// intermediates; its key usage must include digitalSignature. Required.
	CertificatePath string `yaml:"certificate_path"`
	// PrivateKeyPath is its key (PEM: PKCS#1, PKCS#8 or SEC 1; RSA or ECDSA). Required.
	PrivateKeyPath string `yaml:"private_key_path"`
	// IntermediatesPath holds intermediates to send after those of certificate_path.
	IntermediatesPath string `yaml:"intermediates_path"`
}

func (c *Config) validateX509PoP() error {
	x := c.X509PoP
	if c.Attestor() != X509PoP {
		if x != (X509PoPAttestor{}) {
			return yamlconf.FieldError("x509pop", "is set but node_attestor is "+c.Attestor()+": set node_attestor: x509pop")
		}
		return nil
	}
	switch {
	case c.JoinToken != "":
		return yamlconf.FieldError("join_token", "cannot be combined with node_attestor: x509pop: remove one")
	case x.CertificatePath == "":
		return yamlconf.FieldError("x509pop.certificate_path", "is required with node_attestor: x509pop: the node's PEM certificate")
	case x.PrivateKeyPath == "":
		return yamlconf.FieldError("x509pop.private_key_path", "is required with node_attestor: x509pop: the PEM key of certificate_path")
	}
	return nil
}
