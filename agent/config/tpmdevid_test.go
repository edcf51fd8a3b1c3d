package config

import (
	"strings"
	"testing"
)

func TestTPMDevIDAttestorSection(t *testing.T) {
	const base = "trust_domain: a.org\n"
	const files = "  devid_cert_path: /d.crt\n  devid_priv_path: /d.priv\n  devid_pub_path: /d.pub\n"
	cfg, err := Parse([]byte(base + "node_attestor: tpm_devid\ntpm_devid:\n  tpm_device_path: /dev/tpmrm0\n" + files + "  owner_hierarchy_password: o\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := TPMDevIDAttestor{DevicePath: "/dev/tpmrm0", DevIDCertPath: "/d.crt", DevIDPrivPath: "/d.priv", DevIDPubPath: "/d.pub", OwnerHierarchyPassword: "o"}
	if cfg.Attestor() != TPMDevID || cfg.TPMDevID != want {
		t.Fatalf("parsed %s %+v", cfg.Attestor(), cfg.TPMDevID)
	}
	for _, tt := range []struct{ name, yaml, want string }{
		{"no DevID certificate", "node_attestor: tpm_devid\ntpm_devid:\n  devid_priv_path: /p\n  devid_pub_path: /q\n", "tpm_devid.devid_cert_path is required"},
		{"no section at all", "node_attestor: tpm_devid\n", "tpm_devid.devid_cert_path is required"},
		{"a join token too", "node_attestor: tpm_devid\njoin_token: abc\ntpm_devid:\n" + files, "join_token cannot be combined with node_attestor: tpm_devid"},
		{"a section without node_attestor", "join_token: abc\ntpm_devid:\n" + files, "tpm_devid is set but node_attestor is join_token: set node_attestor: tpm_devid"},
		{"a misspelt key", "node_attestor: tpm_devid\ntpm_devid:\n" + files + "  tpm_path: /dev/tpm0\n", "tpm_path"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(base + tt.yaml))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}
