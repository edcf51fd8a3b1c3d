package tpmdevid_test

import (
	"context"
	"encoding/binary"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-tpm/legacy/tpm2"

	"github.com/lanyard-dev/lanyard/attestors/tpmdevid"
	"github.com/lanyard-dev/lanyard/attestors/tpmdevid/tpmtest"
)

// provisioned is a software TPM with an EK certificate and a DevID, and the agent
// configuration that uses them.
func provisioned(t *testing.T, opts tpmtest.DevIDOptions) (*tpmtest.TPM, tpmdevid.ProverConfig) {
	t.Helper()
	tp := tpmtest.Start(t)
	tp.ProvisionEK(t, tpmtest.NewCA(t, "TPM Manufacturer CA"))
	d := tp.ProvisionDevID(t, t.TempDir(), tpmtest.NewCA(t, "DevID CA"), time.Now().Add(time.Hour), opts)
	return tp, tpmdevid.ProverConfig{DevicePath: tp.Socket, DevIDCertPath: d.CertPath, DevIDPrivPath: d.PrivPath,
		DevIDPubPath: d.PubPath, DevIDPassword: opts.Password}
}

func payload(t *testing.T, cfg tpmdevid.ProverConfig) error {
	t.Helper()
	p, err := tpmdevid.NewProver(cfg)
	if err != nil {
		return err
	}
	defer p.Close()
	_, err = p.Payload(context.Background())
	return err
}

func TestProverNamesTheSettingToFix(t *testing.T) {
	tp, good := provisioned(t, tpmtest.DevIDOptions{Password: "devid-secret"})
	tp.SetHierarchyPassword(t, tpm2.HandleOwner, "owner-secret")
	tp.SetHierarchyPassword(t, tpm2.HandleEndorsement, "endorsement-secret")
	good.OwnerHierarchyPassword, good.EndorsementHierarchyPassword = "owner-secret", "endorsement-secret"
	if err := payload(t, good); err != nil {
		t.Fatalf("with the right passwords: %v", err)
	}
	for name, tc := range map[string]struct {
		edit func(*tpmdevid.ProverConfig)
		want string
	}{
		"no TPM at tpm_device_path": {func(c *tpmdevid.ProverConfig) { c.DevicePath = "/nonexistent/tpmrm0" },
			"tpm_device_path /nonexistent/tpmrm0: cannot open the TPM"},
		"a software TPM's socket nobody serves": {func(c *tpmdevid.ProverConfig) { c.DevicePath = deadSocket(t) },
			"the TPM does not answer"},
		"wrong owner_hierarchy_password": {func(c *tpmdevid.ProverConfig) { c.OwnerHierarchyPassword = "wrong" },
			"the TPM refused owner_hierarchy_password"},
		"wrong endorsement_hierarchy_password": {func(c *tpmdevid.ProverConfig) { c.EndorsementHierarchyPassword = "wrong" },
			"the TPM refused endorsement_hierarchy_password"},
		"wrong devid_password": {func(c *tpmdevid.ProverConfig) { c.DevIDPassword = "wrong" },
			"the TPM refused devid_password"},
		"missing devid_cert_path file": {func(c *tpmdevid.ProverConfig) { c.DevIDCertPath = "/nonexistent/devid.pem" },
			"devid_cert_path: open /nonexistent/devid.pem"},
		"damaged devid_pub_path": {func(c *tpmdevid.ProverConfig) { c.DevIDPubPath = writeFile(t, []byte("garbage")) },
			"devid_pub_path does not hold a TPM public area"},
	} {
		t.Run(name, func(t *testing.T) {
			cfg := good
			tc.edit(&cfg)
			err := payload(t, cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestProverRequiresTheDevIDFiles(t *testing.T) {
	_, err := tpmdevid.NewProver(tpmdevid.ProverConfig{DevIDCertPath: "c", DevIDPubPath: "p"})
	if err == nil || !strings.Contains(err.Error(), "devid_priv_path is required") {
		t.Fatalf("error %v, want devid_priv_path is required", err)
	}
}

// tpm2_create writes TPM2B structures (a two-byte size first); go-tpm and SPIRE's
// provisioning write the bare contents. Both load.
func TestProverLoadsBlobsInTPM2ToolsFormat(t *testing.T) {
	_, cfg := provisioned(t, tpmtest.DevIDOptions{})
	for _, path := range []*string{&cfg.DevIDPubPath, &cfg.DevIDPrivPath} {
		b, err := os.ReadFile(*path)
		if err != nil {
			t.Fatal(err)
		}
		*path = writeFile(t, binary.BigEndian.AppendUint16(nil, uint16(len(b))), b)
	}
	if err := payload(t, cfg); err != nil {
		t.Fatal(err)
	}
}

// deadSocket is a unix socket file no process listens on: a stopped swtpm.
func deadSocket(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "tpm.sock")
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	l.SetUnlinkOnClose(false)
	l.Close()
	return path
}

func writeFile(t *testing.T, parts ...[]byte) string {
	t.Helper()
	f, err := os.CreateTemp(t.TempDir(), "blob")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range parts {
		if _, err := f.Write(p); err != nil {
			t.Fatal(err)
		}
	}
	return filepath.Clean(f.Name())
}
