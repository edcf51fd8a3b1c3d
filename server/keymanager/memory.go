package keymanager

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"fmt"
	"sync"
)

// Memory keeps keys in process memory only: they are gone after a restart.
type Memory struct {
	mu   sync.RWMutex
	keys map[string]crypto.Signer
}

// NewMemory returns an empty in-memory key manager.
func NewMemory() *Memory { return &Memory{keys: map[string]crypto.Signer{}} }

// GenerateKey implements KeyManager.
func (m *Memory) GenerateKey(_ context.Context, id string, keyType KeyType) (crypto.Signer, error) {
	if err := ValidateID(id); err != nil {
		return nil, err
	}
	key, err := generate(keyType)
	if err != nil {
		return nil, err
	}
	m.mu.Lock()
	m.keys[id] = key
	m.mu.Unlock()
	return key, nil
}

// GetKey implements KeyManager.
func (m *Memory) GetKey(_ context.Context, id string) (crypto.Signer, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	key, ok := m.keys[id]
	if !ok {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	return key, nil
}

// DeleteKey implements KeyManager.
func (m *Memory) DeleteKey(_ context.Context, id string) error {
	m.mu.Lock()
	delete(m.keys, id)
	m.mu.Unlock()
	return nil
}

func generate(t KeyType) (crypto.Signer, error) {
	var (
		key crypto.Signer
		err error
	)
	switch t {
	case ECP256:
		key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case ECP384:
		key, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	case RSA2048:
		key, err = rsa.GenerateKey(rand.Reader, 2048)
	case RSA4096:
		key, err = rsa.GenerateKey(rand.Reader, 4096)
	default:
		return nil, fmt.Errorf("generating key: unknown key type %q", t)
	}
	if err != nil {
		return nil, fmt.Errorf("generating %s key: %w", t, err)
	}
	return key, nil
}

// ValidateID keeps IDs safe to use as file names.
func ValidateID(id string) error {
	if id == "" || len(id) > 128 || id[0] == '.' {
		return fmt.Errorf("key id %q: must be 1 to 128 characters and not start with '.'", id)
	}
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return fmt.Errorf("key id %q: only letters, digits, '-', '_' and '.' are allowed", id)
		}
	}
	return nil
}
