package keymanager

import (
	"context"
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"github.com/lanyard-dev/lanyard/internal/durable"
)

// Disk keeps each key as a PKCS#8 PEM file (mode 0600) in a directory (0700), so keys
// survive restarts. Loaded keys are cached in memory.
type Disk struct {
	dir string
	mem *Memory
	mu  sync.Mutex // serialises file writes
}

// NewDisk opens (creating if needed) a key directory.
func NewDisk(dir string) (*Disk, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("creating key directory: %w", err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return nil, fmt.Errorf("securing key directory: %w", err)
	}
	return &Disk{dir: dir, mem: NewMemory()}, nil
}

// GenerateKey implements KeyManager; the key is on disk before it is returned.
func (d *Disk) GenerateKey(ctx context.Context, id string, keyType KeyType) (crypto.Signer, error) {
	if err := ValidateID(id); err != nil {
		return nil, err
	}
	key, err := generate(keyType)
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("encoding key %s: %w", id, err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := durable.WriteFile(d.path(id), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})); err != nil {
		return nil, fmt.Errorf("writing key %s: %w", id, err)
	}
	d.mem.mu.Lock()
	d.mem.keys[id] = key
	d.mem.mu.Unlock()
	return key, nil
}

// GetKey implements KeyManager.
func (d *Disk) GetKey(ctx context.Context, id string) (crypto.Signer, error) {
	if err := ValidateID(id); err != nil {
		return nil, err
	}
	if key, err := d.mem.GetKey(ctx, id); err == nil {
		return key, nil
	}
	data, err := os.ReadFile(d.path(id))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	if err != nil {
		return nil, fmt.Errorf("reading key %s: %w", id, err)
	}
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, fmt.Errorf("key file %s is not PEM", d.path(id))
	}
	parsed, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("key file %s: %w", d.path(id), err)
	}
	key, ok := parsed.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("key file %s holds no signing key", d.path(id))
	}
	d.mem.mu.Lock()
	d.mem.keys[id] = key
	d.mem.mu.Unlock()
	return key, nil
}

// DeleteKey implements KeyManager: the file is removed and the removal made durable.
func (d *Disk) DeleteKey(ctx context.Context, id string) error {
	if err := ValidateID(id); err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.mem.DeleteKey(ctx, id); err != nil {
		return err
	}
	if err := os.Remove(d.path(id)); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return fmt.Errorf("deleting key %s: %w", id, err)
	}
	if err := durable.SyncDir(d.dir); err != nil {
		return fmt.Errorf("deleting key %s: %w", id, err)
	}
	return nil
}

func (d *Disk) path(id string) string { return filepath.Join(d.dir, id+".pem") }
