package keymanager_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"

	"github.com/lanyard-dev/lanyard/server/keymanager"
)

// more adds key managers built only with cgo (PKCS#11) to the contract test.
var more []func(t *testing.T) (string, keymanager.KeyManager)

// TestEveryKeyManagerKeepsTheContract runs what the CA relies on against each key manager.
func TestEveryKeyManagerKeepsTheContract(t *testing.T) {
	makers := append([]func(t *testing.T) (string, keymanager.KeyManager){
		func(t *testing.T) (string, keymanager.KeyManager) { return "memory", keymanager.NewMemory() },
		func(t *testing.T) (string, keymanager.KeyManager) {
			km, err := keymanager.NewDisk(filepath.Join(t.TempDir(), "keys"))
			if err != nil {
				t.Fatal(err)
			}
			return "disk", km
		},
	}, more...)
	for _, mk := range makers {
		name, km := mk(t)
		t.Run(name, func(t *testing.T) { contract(t, km) })
	}
}

func contract(t *testing.T, km keymanager.KeyManager) {
	ctx := context.Background()
	digest := sha256.Sum256([]byte("tbs"))
	signs := func(key crypto.Signer) {
		t.Helper()
		sig, err := key.Sign(rand.Reader, digest[:], crypto.SHA256)
		if err != nil || !ecdsa.VerifyASN1(key.Public().(*ecdsa.PublicKey), digest[:], sig) {
			t.Fatalf("signature does not verify: %v", err)
		}
	}
	first, err := km.GenerateKey(ctx, "x509-ca-a", keymanager.ECP256)
	if err != nil {
		t.Fatal(err)
	}
	signs(first)
	got, err := km.GetKey(ctx, "x509-ca-a")
	if err != nil || !got.Public().(*ecdsa.PublicKey).Equal(first.Public()) {
		t.Fatalf("GetKey gives another key: %v", err)
	}
	second, err := km.GenerateKey(ctx, "x509-ca-a", keymanager.ECP256)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := km.GetKey(ctx, "x509-ca-a"); second.Public().(*ecdsa.PublicKey).Equal(first.Public()) || !got.Public().(*ecdsa.PublicKey).Equal(second.Public()) {
		t.Fatal("GenerateKey did not replace the key")
	}
	if _, err := km.GetKey(ctx, "never-made"); !errors.Is(err, keymanager.ErrNotFound) {
		t.Fatalf("unknown key: %v, want ErrNotFound", err)
	}
	for _, id := range []string{"", "../evil", "a/b", ".hidden"} {
		if _, err := km.GenerateKey(ctx, id, keymanager.ECP256); err == nil {
			t.Errorf("key id %q accepted", id)
		}
	}
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := fmt.Sprintf("jwt-%d", i)
			if _, err := km.GenerateKey(ctx, id, keymanager.ECP256); err != nil {
				t.Error(err)
				return
			}
			key, err := km.GetKey(ctx, id)
			if err != nil {
				t.Error(err)
				return
			}
			if _, err := key.Sign(rand.Reader, digest[:], crypto.SHA256); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if err := km.DeleteKey(ctx, "x509-ca-a"); err != nil {
		t.Fatal(err)
	}
	if _, err := km.GetKey(ctx, "x509-ca-a"); !errors.Is(err, keymanager.ErrNotFound) {
		t.Fatalf("GetKey after DeleteKey: %v", err)
	}
	if err := km.DeleteKey(ctx, "x509-ca-a"); err != nil {
		t.Fatalf("deleting an unknown key: %v", err)
	}
}
