//go:build cgo

package server

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/lanyard-dev/lanyard/server/keymanager/pkcs11/hsmtest"
)

// TestAPKCS11ServerRestartsOntoItsTokenKeysAndRefusesANewCAOverThem: the token's keys
// are this server's state as disk keys are, so a datastore that lost it is refused.
func TestAPKCS11ServerRestartsOntoItsTokenKeysAndRefusesANewCAOverThem(t *testing.T) {
	tok := hsmtest.New(t).Token("lanyard")
	cfg := newConfigFor(t, testTD.Name(), fmt.Sprintf("key_manager: pkcs11\npkcs11:\n  module_path: %s\n  slot: %d\n  pin_file: %s\n",
		hsmtest.Module, tok.Slot, hsmtest.PINFile(t)))
	cfg, ca := ranBeforeWith(t, cfg)

	ts := startServer(t, cfg)
	if got := ts.bundle().X509Authorities()[0]; !got.Equal(ca) {
		t.Fatal("the CA changed across a restart")
	}
	ts.stop()

	if err := os.Remove(cfg.Datastore.ConnectionString); err != nil {
		t.Fatal(err)
	}
	err := startErr(t, cfg)
	for _, want := range []string{"holds no CA state", "key objects (X.509, JWT, WIT) on its PKCS#11 token", "-forceNew"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("start over a lost datastore: %v; want it to say %q", err, want)
		}
	}
}
