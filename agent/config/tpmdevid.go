package config

import "github.com/lanyard-dev/lanyard/internal/yamlconf"

// TPMDevID is node_attestor: tpm_devid.
const TPMDevID = "tpm_devid"

// TPMDevIDAttestor configures the tpm_devid node attestor (SPIRE's plugin_data names):
// the agent proves a DevID key held in this node's TPM.
type TPMDevIDAttestor struct {
	// DevicePath is the TPM: a device or a software TPM's unix socket. Default
	// /dev/tpmrm0, else /dev/tpm0.
	DevicePath string `yaml:"tpm_device_path"`
	// DevIDCertPath is the DevID certificate and its intermediates, PEM. Required.
	DevIDCertPath string `yaml:"devid_cert_path"`
	// DevIDPrivPath and DevIDPubPath are the DevID key's blobs from provisioning
	// (tpm2_create -r / -u). Required.
	DevIDPrivPath string `yaml:"devid_priv_path"`
	DevIDPubPath  string `yaml:"devid_pub_path"`
	// DevIDPassword, OwnerHierarchyPassword and EndorsementHierarchyPassword are the
	// authorization values set at provisioning. Default "".
	DevIDPassword                string `yaml:"devid_password"`
	OwnerHierarchyPassword       string `yaml:"owner_hierarchy_password"`
	EndorsementHierarchyPassword string `yaml:"endorsement_hierarchy_password"`
}

func (t TPMDevIDAttestor) isSet() bool { return t != TPMDevIDAttestor{} }

func (c *Config) validateTPMDevID() error {
	if c.Attestor() != TPMDevID {
		if c.TPMDevID.isSet() {
			return yamlconf.FieldError("tpm_devid", "is set but node_attestor is "+c.Attestor()+": set node_attestor: tpm_devid")
		}
		return nil
	}
	if c.JoinToken != "" {
		return yamlconf.FieldError("join_token", "cannot be combined with node_attestor: tpm_devid: remove one")
	}
	for _, f := range []struct{ name, v string }{
		{"devid_cert_path", c.TPMDevID.DevIDCertPath}, {"devid_priv_path", c.TPMDevID.DevIDPrivPath}, {"devid_pub_path", c.TPMDevID.DevIDPubPath},
	} {
		if f.v == "" {
			return yamlconf.FieldError("tpm_devid."+f.name, "is required with node_attestor: tpm_devid: the DevID file from provisioning")
		}
	}
	return nil
}
