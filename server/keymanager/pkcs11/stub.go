//go:build !cgo

package pkcs11

import (
	"context"
	"crypto"
	"errors"

	"github.com/lanyard-dev/lanyard/server/keymanager"
)

var errNoCgo = errors.New("key_manager: pkcs11 needs a lanyard-server built with cgo, and this one was built with CGO_ENABLED=0: " +
	"build it with CGO_ENABLED=1 and a C compiler (gcc), e.g. `make build`, or use key_manager: disk")

// KeyManager is unavailable without cgo; Open says so.
type KeyManager struct{}

// Open refuses: the PKCS#11 library is loaded through cgo.
func Open(Config) (*KeyManager, error) { return nil, errNoCgo }

// GenerateKey implements keymanager.KeyManager.
func (*KeyManager) GenerateKey(context.Context, string, keymanager.KeyType) (crypto.Signer, error) {
	return nil, errNoCgo
}

// GetKey implements keymanager.KeyManager.
func (*KeyManager) GetKey(context.Context, string) (crypto.Signer, error) { return nil, errNoCgo }

// DeleteKey implements keymanager.KeyManager.
func (*KeyManager) DeleteKey(context.Context, string) error { return errNoCgo }

// Labels implements the cgo build's diagnostic listing.
func (*KeyManager) Labels(context.Context) ([]string, error) { return nil, errNoCgo }

// Close implements io.Closer.
func (*KeyManager) Close() error { return nil }
