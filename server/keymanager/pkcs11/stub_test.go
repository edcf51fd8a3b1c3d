//go:build !cgo

package pkcs11

import (
	"strings"
	"testing"
)

func TestWithoutCgoOpenSaysHowToGetABinaryThatHasIt(t *testing.T) {
	_, err := Open(Config{ModulePath: "/usr/lib/softhsm/libsofthsm2.so", TokenLabel: "lanyard"})
	if err == nil || !strings.Contains(err.Error(), "CGO_ENABLED=1") || !strings.Contains(err.Error(), "key_manager: disk") {
		t.Fatalf("Open without cgo: %v", err)
	}
}
