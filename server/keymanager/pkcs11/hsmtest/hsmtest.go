// Package hsmtest gives tests fresh SoftHSM2 tokens: a token directory of their own in a
// temp dir (through SOFTHSM2_CONF, set for the test and inherited by the processes it
// starts) and tokens initialised there with softhsm2-util. Without SoftHSM2 the test is
// skipped, or fails when LANYARD_REQUIRE_SOFTHSM=1 (make test), which installs it with
// e2e/softhsm/install.sh.
package hsmtest

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
)

// Module is where Debian's softhsm2 package puts the PKCS#11 library.
const Module = "/usr/lib/softhsm/libsofthsm2.so"

// PIN and SOPIN are the user and security officer PINs of every test token.
const (
	PIN   = "1234-user"
	SOPIN = "5678-so"
)

// HSM is one token directory.
type HSM struct {
	t testing.TB
	// Dir is the token directory; Conf the SoftHSM2 configuration naming it.
	Dir, Conf string
}

// Token is an initialised token.
type Token struct {
	Label string
	Slot  uint
}

// New makes an empty token directory and points SOFTHSM2_CONF at it for the rest of
// the test (so the test must not be parallel). Key managers must be closed before the
// test ends: SoftHSM2 reads SOFTHSM2_CONF when the module is initialised.
func New(t testing.TB) *HSM {
	t.Helper()
	if _, err := os.Stat(Module); err != nil {
		if os.Getenv("LANYARD_REQUIRE_SOFTHSM") != "" {
			t.Fatalf("SoftHSM2 is required (LANYARD_REQUIRE_SOFTHSM) but %s is missing: run e2e/softhsm/install.sh", Module)
		}
		t.Skipf("SoftHSM2 not installed (%s missing): run e2e/softhsm/install.sh", Module)
	}
	dir := t.TempDir()
	h := &HSM{t: t, Dir: filepath.Join(dir, "tokens"), Conf: filepath.Join(dir, "softhsm2.conf")}
	if err := os.Mkdir(h.Dir, 0o700); err != nil {
		t.Fatal(err)
	}
	conf := "directories.tokendir = " + h.Dir + "\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n"
	if err := os.WriteFile(h.Conf, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SOFTHSM2_CONF", h.Conf)
	return h
}

var slotRE = regexp.MustCompile(`reassigned to slot (\d+)`)

// Token initialises a token labelled label with PIN and SOPIN in the first free slot.
func (h *HSM) Token(label string) Token {
	h.t.Helper()
	out, err := exec.Command("softhsm2-util", "--init-token", "--free", "--label", label, "--pin", PIN, "--so-pin", SOPIN).CombinedOutput()
	if err != nil {
		h.t.Fatalf("softhsm2-util --init-token: %v\n%s", err, out)
	}
	m := slotRE.FindSubmatch(out)
	if m == nil {
		h.t.Fatalf("softhsm2-util did not say the slot: %s", out)
	}
	slot, err := strconv.ParseUint(string(m[1]), 10, 64)
	if err != nil {
		h.t.Fatal(err)
	}
	return Token{Label: label, Slot: uint(slot)}
}

// PINFile writes PIN to a 0600 file in a temp dir and returns its path.
func PINFile(t testing.TB) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "pin")
	if err := os.WriteFile(path, []byte(PIN+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
