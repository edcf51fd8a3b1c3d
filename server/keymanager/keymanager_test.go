package keymanager

import (
	"context"
	"crypto/ecdsa"
	"crypto/rsa"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestDiskKeysSurviveReopenAndArePrivate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "keys")
	km, err := NewDisk(dir)
	if err != nil {
		t.Fatal(err)
	}
	key, err := km.GenerateKey(context.Background(), "x509-ca-1", ECP256)
	if err != nil {
		t.Fatal(err)
	}
	reopened, err := NewDisk(dir)
	if err != nil {
		t.Fatal(err)
	}
	got, err := reopened.GetKey(context.Background(), "x509-ca-1")
	if err != nil {
		t.Fatal(err)
	}
	if !got.Public().(*ecdsa.PublicKey).Equal(key.Public()) {
		t.Fatal("reopened key differs")
	}
	fi, err := os.Stat(filepath.Join(dir, "x509-ca-1.pem"))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v, want 0600", fi.Mode().Perm())
	}
	di, _ := os.Stat(dir)
	if di.Mode().Perm() != 0o700 {
		t.Fatalf("key dir mode %v, want 0700", di.Mode().Perm())
	}
	if _, err := reopened.GetKey(context.Background(), "missing"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing key: %v", err)
	}
}

func TestKeyIDsCannotEscapeTheDirectory(t *testing.T) {
	km, err := NewDisk(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"../evil", "a/b", "", ".hidden"} {
		if _, err := km.GenerateKey(context.Background(), id, ECP256); err == nil {
			t.Errorf("key id %q accepted", id)
		}
	}
}

func TestKeyTypes(t *testing.T) {
	m := NewMemory()
	for _, kt := range []KeyType{ECP256, ECP384, RSA2048} {
		k, err := m.GenerateKey(context.Background(), "k-"+string(kt), kt)
		if err != nil {
			t.Fatal(err)
		}
		_, isRSA := k.Public().(*rsa.PublicKey)
		if isRSA != (kt == RSA2048) {
			t.Errorf("%s produced %T", kt, k.Public())
		}
	}
	if _, err := ParseKeyType("dsa"); err == nil {
		t.Error("unknown key type parsed")
	}
}

func TestDeleteKeyRemovesItFromDiskAndMemory(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "keys")
	disk, err := NewDisk(dir)
	if err != nil {
		t.Fatal(err)
	}
	for name, km := range map[string]KeyManager{"disk": disk, "memory": NewMemory()} {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			if _, err := km.GenerateKey(ctx, "jwt-old", ECP256); err != nil {
				t.Fatal(err)
			}
			if _, err := km.GenerateKey(ctx, "jwt-new", ECP256); err != nil {
				t.Fatal(err)
			}
			if err := km.DeleteKey(ctx, "jwt-old"); err != nil {
				t.Fatal(err)
			}
			if _, err := km.GetKey(ctx, "jwt-old"); !errors.Is(err, ErrNotFound) {
				t.Fatalf("GetKey after DeleteKey = %v, want ErrNotFound", err)
			}
			if _, err := km.GetKey(ctx, "jwt-new"); err != nil {
				t.Fatalf("the other key: %v", err)
			}
			if err := km.DeleteKey(ctx, "jwt-old"); err != nil {
				t.Fatalf("deleting it again: %v", err)
			}
		})
	}
	if _, err := os.Stat(filepath.Join(dir, "jwt-old.pem")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the deleted key's file: %v, want it gone", err)
	}
	reopened, err := NewDisk(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := reopened.GetKey(context.Background(), "jwt-old"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("GetKey after reopening = %v, want ErrNotFound", err)
	}
}
