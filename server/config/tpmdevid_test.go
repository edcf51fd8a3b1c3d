package config

import (
	"strings"
	"testing"
)

func TestTPMDevIDSection(t *testing.T) {
	const base = "trust_domain: a.org\nnode_attestors:\n  tpm_devid:\n"
	cfg, err := Parse([]byte(base + "    devid_ca_path: /etc/lanyard/devid-ca.pem\n    endorsement_ca_path: /etc/lanyard/ek-ca.pem\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got := *cfg.NodeAttestors.TPMDevID; got != (TPMDevID{DevIDCAPath: "/etc/lanyard/devid-ca.pem", EndorsementCAPath: "/etc/lanyard/ek-ca.pem"}) {
		t.Fatalf("tpm_devid = %+v", got)
	}
	for _, tt := range []struct{ name, yaml, want string }{
		{"no DevID CAs", base + "    endorsement_ca_path: /ek.pem\n", "node_attestors.tpm_devid.devid_ca_path is required"},
		{"no manufacturer CAs", base + "    devid_ca_path: /devid.pem\n", "node_attestors.tpm_devid.endorsement_ca_path is required"},
		{"a misspelt key", base + "    devid_ca: /devid.pem\n", "devid_ca"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.yaml))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}
