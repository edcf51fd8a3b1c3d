//go:build cgo

package pkcs11_test

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lanyard-dev/lanyard/internal/poll"
	"github.com/lanyard-dev/lanyard/server/config"
	"github.com/lanyard-dev/lanyard/server/datadir"
	"github.com/lanyard-dev/lanyard/server/keymanager/pkcs11"
	"github.com/lanyard-dev/lanyard/server/keymanager/pkcs11/hsmtest"
	"github.com/lanyard-dev/lanyard/server/servertest"
)

// pkcs11YAML is the pkcs11 section for tok with the PIN in pinFile.
func pkcs11YAML(tok hsmtest.Token, pinFile string) string {
	return fmt.Sprintf("pkcs11:\n  module_path: %s\n  token_label: %s\n  pin_file: %s\n", hsmtest.Module, tok.Label, pinFile)
}

// labels lists the objects on tok through a key manager of its own; an error when the
// server destroyed an object while it was read.
func labels(t *testing.T, tok hsmtest.Token) ([]string, error) {
	t.Helper()
	k, err := pkcs11.Open(pkcs11.Config{ModulePath: hsmtest.Module, TokenLabel: tok.Label, PIN: hsmtest.PIN, PINSource: "test"})
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	return k.Labels(context.Background())
}

// TestRotationCreatesAndDestroysTokenObjects runs the real server with its keys on a
// token: the CA, JWT and WIT keys are token objects, rotation adds new ones and destroys
// the retired ones, and data_dir holds no private key.
func TestRotationCreatesAndDestroysTokenObjects(t *testing.T) {
	tok := hsmtest.New(t).Token("lanyard")
	s := servertest.Start(t, servertest.WithKeyManager("pkcs11"), servertest.WithYAML(pkcs11YAML(tok, hsmtest.PINFile(t))+
		"ca_ttl: 1m\ndefault_x509_svid_ttl: 10s\ndefault_jwt_svid_ttl: 10s\ndefault_wit_svid_ttl: 10s\nagent_ttl: 10s\n"))
	first, err := labels(t, tok)
	if err != nil {
		t.Fatal(err)
	}
	if len(first) != 6 {
		t.Fatalf("objects after start: %q, want a private and a public key for each of the X.509 CA, JWT and WIT keys", first)
	}
	// The server signs agent SVIDs with its token key.
	if peer := s.AttestAgent(); peer == nil {
		t.Fatal("no agent")
	}
	serverID, err := os.ReadFile(filepath.Join(s.Config.DataDir, "server_id"))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range first {
		if !strings.HasPrefix(l, "lanyard/"+strings.TrimSpace(string(serverID))+"/") {
			t.Fatalf("object %q is not labelled with the server ID", l)
		}
	}
	// Step past the first keys' lifetime, a rotation check at a time, until the first keys
	// are destroyed; the token never holds more than the live keys (prepared, active, old:
	// at most 3 of each kind, 2 objects each, plus a pair being made).
	var now []string
	poll.Until(t, time.Minute, "the first keys retired and destroyed", func() bool {
		s.Clock.Step(10 * time.Second)
		if now, err = labels(t, tok); err != nil {
			return false // an object destroyed while read: look again
		}
		if len(now) > 3*3*2+1 {
			t.Fatalf("objects pile up on the token: %q", now)
		}
		return !slices.ContainsFunc(now, func(l string) bool { return slices.Contains(first, l) })
	})
	if len(now) < 6 {
		t.Fatalf("objects after rotation: %q, want new keys in place of the retired ones", now)
	}
	err = filepath.WalkDir(s.Config.DataDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if b, rerr := os.ReadFile(path); rerr == nil && strings.Contains(string(b), "PRIVATE KEY") {
			t.Errorf("%s holds a private key", path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestBadPKCS11SettingsGiveOneClearError goes through the configuration and the server's
// key manager opening, as lanyard-server run does.
func TestBadPKCS11SettingsGiveOneClearError(t *testing.T) {
	tok := hsmtest.New(t).Token("lanyard")
	dir := t.TempDir()
	pin := hsmtest.PINFile(t)
	wrong, empty := filepath.Join(dir, "wrong-pin"), filepath.Join(dir, "empty-pin")
	if err := os.WriteFile(wrong, []byte("0000-wrong\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("LANYARD_TEST_PIN_UNSET", "")
	section := func(lines ...string) string {
		return "key_manager: pkcs11\npkcs11:\n  " + strings.Join(lines, "\n  ") + "\n"
	}
	mod, label, file := "module_path: "+hsmtest.Module, "token_label: lanyard", "pin_file: "+pin
	for _, tc := range []struct {
		name, yaml, want string
	}{
		{"a wrong PIN", section(mod, label, "pin_file: "+wrong), "the PIN from pkcs11.pin_file " + wrong + " is wrong"},
		{"a missing module", section("module_path: /nonexistent/libvendor.so", label, file), "pkcs11.module_path /nonexistent/libvendor.so: stat /nonexistent/libvendor.so: no such file or directory: install the token vendor's PKCS#11 library"},
		{"a module that is no library", section("module_path: "+pin, label, file), "not a loadable PKCS#11 library"},
		{"an unknown token label", section(mod, "token_label: nope", file), fmt.Sprintf(`pkcs11.token_label: %s has no token "nope" (it has tokens "lanyard" (slot %d))`, hsmtest.Module, tok.Slot)},
		{"an unknown slot", section(mod, "slot: 4242", file), "pkcs11.slot: " + hsmtest.Module + " has no token in slot 4242"},
		{"a missing PIN file", section(mod, label, "pin_file: "+filepath.Join(dir, "none")), "reading the PKCS#11 PIN: pkcs11.pin_file " + filepath.Join(dir, "none") + ": open"},
		{"an unreadable PIN file (a directory)", section(mod, label, "pin_file: "+dir), "reading the PKCS#11 PIN: pkcs11.pin_file " + dir + ": read " + dir + ": is a directory"},
		{"an empty PIN file", section(mod, label, "pin_file: "+empty), "pkcs11.pin_file " + empty + " is empty"},
		{"an unset PIN variable", section(mod, label, "pin_env: LANYARD_TEST_PIN_UNSET"), "the environment variable LANYARD_TEST_PIN_UNSET is not set or empty"},
		{"both a PIN file and variable", section(mod, label, file, "pin_env: X"), "config: pkcs11.pin_file or pkcs11.pin_env: set exactly one"},
		{"neither a token label nor a slot", section(mod, file), "config: pkcs11.token_label or pkcs11.slot: set exactly one"},
		{"no module path", section(label, file), "config: pkcs11.module_path is required"},
		{"no pkcs11 section", "key_manager: pkcs11\n", "config: pkcs11 is required with key_manager: pkcs11"},
		{"a pkcs11 section for the disk key manager", "pkcs11:\n  " + mod + "\n", `config: pkcs11 is set but key_manager is "disk"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := config.Parse([]byte("trust_domain: example.org\ndata_dir: " + dir + "\n" + tc.yaml))
			if err == nil {
				var km any
				km, err = datadir.KeyManager(cfg, "0123456789abcdef0123456789abcdef", nil)
				if c, ok := km.(interface{ Close() error }); ok && err == nil {
					_ = c.Close()
				}
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error:\n  %v\nwant it to contain:\n  %s", err, tc.want)
			}
			if strings.Contains(err.Error(), hsmtest.PIN) || strings.Contains(err.Error(), "0000-wrong") {
				t.Fatalf("the error shows a PIN: %v", err)
			}
		})
	}
}
