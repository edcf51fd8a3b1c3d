package config

import "github.com/lanyard-dev/lanyard/internal/yamlconf"

// TPMDevID configures the tpm_devid verifier (SPIRE's plugin_data names): agents prove a
// DevID key held in a genuine TPM.
type TPMDevID struct {
	// DevIDCAPath holds the PEM CA certificates DevID certificates must chain to. Required.
	DevIDCAPath string `yaml:"devid_ca_path"`
	// EndorsementCAPath holds the TPM manufacturers' PEM CA certificates EK certificates
	// must chain to. Required.
	EndorsementCAPath string `yaml:"endorsement_ca_path"`
}

// validate checks the section; the files are read when the server starts.
func (t *TPMDevID) validate() error {
	if t.DevIDCAPath == "" {
		return yamlconf.FieldError("node_attestors.tpm_devid.devid_ca_path", "is required: the PEM file of the CAs that sign your nodes' DevID certificates")
	}
	if t.EndorsementCAPath == "" {
		return yamlconf.FieldError("node_attestors.tpm_devid.endorsement_ca_path", "is required: the PEM file of your TPM manufacturers' EK CAs")
	}
	return nil
}
