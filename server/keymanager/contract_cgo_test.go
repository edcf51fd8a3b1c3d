//go:build cgo

package keymanager_test

import (
	"testing"

	"github.com/lanyard-dev/lanyard/server/keymanager"
	"github.com/lanyard-dev/lanyard/server/keymanager/pkcs11"
	"github.com/lanyard-dev/lanyard/server/keymanager/pkcs11/hsmtest"
)

func init() {
	more = append(more, func(t *testing.T) (string, keymanager.KeyManager) {
		tok := hsmtest.New(t).Token("contract")
		km, err := pkcs11.Open(pkcs11.Config{ModulePath: hsmtest.Module, TokenLabel: tok.Label, PIN: hsmtest.PIN, PINSource: "test", LabelPrefix: "contract/"})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = km.Close() })
		return "pkcs11", km
	})
}
