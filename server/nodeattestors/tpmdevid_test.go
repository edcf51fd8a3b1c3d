package nodeattestors

import (
	"encoding/pem"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/lanyard-dev/lanyard/internal/testca"
	"github.com/lanyard-dev/lanyard/server/config"
)

func TestTPMDevIDCAFilesAreCheckedAtStart(t *testing.T) {
	dir := t.TempDir()
	damaged := filepath.Join(dir, "damaged.pem")
	if err := os.WriteFile(damaged, []byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty.pem")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	td := spiffeid.RequireTrustDomainFromString("example.org")
	for name, tc := range map[string]struct {
		cfg  config.TPMDevID
		want string
	}{
		"a missing DevID CA file": {config.TPMDevID{DevIDCAPath: filepath.Join(dir, "nope.pem"), EndorsementCAPath: empty},
			"node_attestors.tpm_devid): devid_ca_path: open "},
		"a damaged DevID CA file": {config.TPMDevID{DevIDCAPath: damaged, EndorsementCAPath: empty},
			"devid_ca_path: " + damaged + ": PEM block 1: x509:"},
		"a manufacturer CA file without certificates": {config.TPMDevID{DevIDCAPath: writeCA(t, dir), EndorsementCAPath: empty},
			"endorsement_ca_path: " + empty + " holds no PEM CERTIFICATE"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Verifiers(config.NodeAttestors{TPMDevID: &tc.cfg}, Deps{TrustDomain: td, Log: slog.New(slog.DiscardHandler)})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

func writeCA(t *testing.T, dir string) string {
	t.Helper()
	c, _ := testca.New(t, "DevID CA", nil, nil, time.Now().Add(time.Hour))
	path := filepath.Join(dir, "devid-ca.pem")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
