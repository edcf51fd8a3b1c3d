package e2e

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lanyard-dev/lanyard/internal/freeport"
	"github.com/lanyard-dev/lanyard/server/keymanager/pkcs11/hsmtest"
)

// TestServerWithKeysInAPKCS11Token runs the real binaries with the server's CA, JWT and
// WIT keys in a SoftHSM2 token: workloads get SVIDs and do mTLS, the server restarts onto
// the same keys, and neither data_dir nor the logs hold a private key or the PIN.
func TestServerWithKeysInAPKCS11Token(t *testing.T) {
	requireRoot(t)
	tok := hsmtest.New(t).Token("lanyard-e2e") // SOFTHSM2_CONF reaches the server through the environment
	t.Setenv("LANYARD_E2E_PKCS11_PIN", hsmtest.PIN)
	d := newDomainWith(t, "pkcs11.example", fmt.Sprintf("key_manager: pkcs11\npkcs11:\n  module_path: %s\n  token_label: %s\n  pin_env: LANYARD_E2E_PKCS11_PIN\n",
		hsmtest.Module, tok.Label))
	d.startServer()
	d.startAgent()
	d.entry("billing", uidBilling)
	d.entry("frontend", uidFrontend)
	addr := fmt.Sprintf("127.0.0.1:%d", freeport.Loopback(t))
	billing := d.workload(uidBilling, "serve", "-addr", addr, "-allow", d.id("frontend"))
	eventually(t, 30*time.Second, "billing listening", func() bool { return strings.Contains(billing.Output(), "listening") })

	talk := func(t *testing.T) {
		t.Helper()
		out, err := d.runWorkload(uidFrontend, "dial", "-addr", addr, "-expect", d.id("billing"), "-message", "invoice 7")
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(out, "hello "+d.id("frontend")) {
			t.Fatalf("reply does not name the frontend: %q", out)
		}
		token, err := d.runWorkload(uidFrontend, "jwt", "-audience", "billing")
		if err != nil {
			t.Fatal(err)
		}
		if out, err := d.runWorkload(uidBilling, "validate", "-audience", "billing", "-token", strings.TrimSpace(token)); err != nil || !strings.Contains(out, "valid "+d.id("frontend")) {
			t.Fatalf("JWT-SVID signed by the token key: %q %v", out, err)
		}
	}
	t.Run("workloads do mTLS and JWT with SVIDs signed inside the token", talk)

	t.Run("the server restarts onto the same token keys", func(t *testing.T) {
		before := d.cli("bundle", "show")
		d.server.stop()
		d.startServer()
		if after := d.cli("bundle", "show"); after != before {
			t.Fatalf("the trust bundle changed across a restart:\n%s\nthen\n%s", before, after)
		}
		talk(t)
	})

	t.Run("data_dir holds no private key and the logs no PIN", func(t *testing.T) {
		err := filepath.WalkDir(filepath.Join(d.dir, "server"), func(path string, e fs.DirEntry, err error) error {
			if err != nil || e.IsDir() {
				return err
			}
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			if strings.Contains(string(b), "PRIVATE KEY") || strings.HasSuffix(path, ".pem") {
				t.Errorf("%s is a key file", path)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(d.server.Output(), hsmtest.PIN) {
			t.Fatal("the server logged the PIN")
		}
	})
}
