// Package keymanager holds the server's private signing keys (X.509 CA, JWT and WIT keys)
// behind a small interface: on disk (files 0600, survive restarts), in memory, or in a
// PKCS#11 token (subpackage pkcs11).
package keymanager

import (
	"context"
	"crypto"
	"errors"
	"fmt"
)

// KeyType names a key algorithm.
type KeyType string

const (
	ECP256  KeyType = "ec-p256"
	ECP384  KeyType = "ec-p384"
	RSA2048 KeyType = "rsa-2048"
	RSA4096 KeyType = "rsa-4096"
)

// ParseKeyType validates a configured key type.
func ParseKeyType(s string) (KeyType, error) {
	switch t := KeyType(s); t {
	case ECP256, ECP384, RSA2048, RSA4096:
		return t, nil
	}
	return "", fmt.Errorf("unknown key type %q (use ec-p256, ec-p384, rsa-2048 or rsa-4096)", s)
}

// ErrNotFound is returned by GetKey for an unknown key ID.
var ErrNotFound = errors.New("key not found")

// KeyManager creates and holds private keys. Keys never leave it except as crypto.Signer.
//
// Implementations are safe for concurrent use. GenerateKey replaces any key with the same ID.
type KeyManager interface {
	GenerateKey(ctx context.Context, id string, keyType KeyType) (crypto.Signer, error)
	GetKey(ctx context.Context, id string) (crypto.Signer, error)
	// DeleteKey destroys a key for good (a retired CA or JWT key nothing trusts any more).
	// Deleting an unknown ID is not an error. The key is gone from storage when DeleteKey
	// returns; a crypto.Signer already handed out keeps working with disk and memory keys
	// (it holds the key) but not with PKCS#11 ones (it signs on the token), so delete only
	// keys nothing signs with any more.
	DeleteKey(ctx context.Context, id string) error
}
