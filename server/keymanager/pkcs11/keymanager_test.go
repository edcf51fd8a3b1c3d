//go:build cgo

package pkcs11

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"errors"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"

	p11 "github.com/miekg/pkcs11"

	"github.com/lanyard-dev/lanyard/server/keymanager"
	"github.com/lanyard-dev/lanyard/server/keymanager/pkcs11/hsmtest"
)

// open opens a key manager on tok, closed when the test ends.
func open(t *testing.T, tok hsmtest.Token, prefix string) *KeyManager {
	t.Helper()
	k, err := Open(Config{ModulePath: hsmtest.Module, TokenLabel: tok.Label, PIN: hsmtest.PIN, PINSource: "test", LabelPrefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = k.Close() })
	return k
}

// verify checks that key signs digests a verifier of its public key accepts, with each
// scheme the CA and JWT code use.
func verify(t *testing.T, key crypto.Signer) {
	t.Helper()
	msg := []byte("to be signed")
	d256, d384 := sha256.Sum256(msg), sha512.Sum384(msg)
	switch pub := key.Public().(type) {
	case *ecdsa.PublicKey:
		sig, err := key.Sign(rand.Reader, d256[:], crypto.SHA256)
		if err != nil {
			t.Fatal(err)
		}
		if !ecdsa.VerifyASN1(pub, d256[:], sig) {
			t.Fatal("ECDSA signature does not verify")
		}
	case *rsa.PublicKey:
		sig, err := key.Sign(rand.Reader, d256[:], crypto.SHA256)
		if err != nil {
			t.Fatal(err)
		}
		if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, d256[:], sig); err != nil {
			t.Fatalf("PKCS#1 v1.5: %v", err)
		}
		pss := &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: crypto.SHA384}
		if sig, err = key.Sign(rand.Reader, d384[:], pss); err != nil {
			t.Fatal(err)
		}
		if err := rsa.VerifyPSS(pub, crypto.SHA384, d384[:], sig, pss); err != nil {
			t.Fatalf("PSS: %v", err)
		}
	default:
		t.Fatalf("public key %T", pub)
	}
}

func TestKeysAreMadeOnTheTokenSignThereAndAreFoundAfterReopening(t *testing.T) {
	tok := hsmtest.New(t).Token("lanyard")
	k := open(t, tok, "lanyard/s1/")
	ctx := context.Background()
	made := map[string]crypto.PublicKey{}
	for _, kt := range []keymanager.KeyType{keymanager.ECP256, keymanager.ECP384, keymanager.RSA2048} {
		id := "k-" + string(kt)
		key, err := k.GenerateKey(ctx, id, kt)
		if err != nil {
			t.Fatal(err)
		}
		verify(t, key)
		made[id] = key.Public()
	}
	// The private keys cannot be read out.
	err := k.do(func(s p11.SessionHandle) error {
		objs, err := k.find(s, "lanyard/s1/k-ec-p256", p11.NewAttribute(p11.CKA_CLASS, p11.CKO_PRIVATE_KEY))
		if err != nil || len(objs) != 1 {
			t.Fatalf("private key objects: %v %v", objs, err)
		}
		attrs, err := k.ctx.GetAttributeValue(s, objs[0], []*p11.Attribute{
			p11.NewAttribute(p11.CKA_TOKEN, nil), p11.NewAttribute(p11.CKA_SENSITIVE, nil),
			p11.NewAttribute(p11.CKA_EXTRACTABLE, nil), p11.NewAttribute(p11.CKA_PRIVATE, nil)})
		if err != nil {
			return err
		}
		for i, want := range []byte{1, 1, 0, 1} {
			if len(attrs[i].Value) != 1 || attrs[i].Value[0] != want {
				t.Errorf("attribute %#x = %v, want %d", attrs[i].Type, attrs[i].Value, want)
			}
		}
		if _, err := k.ctx.GetAttributeValue(s, objs[0], []*p11.Attribute{p11.NewAttribute(p11.CKA_VALUE, nil)}); !isCode(err, p11.CKR_ATTRIBUTE_SENSITIVE) {
			t.Errorf("reading the private value: %v, want CKR_ATTRIBUTE_SENSITIVE", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := k.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := k.keys["k-ec-p256"].Sign(rand.Reader, make([]byte, 32), crypto.SHA256); err == nil || !strings.Contains(err.Error(), "closed") {
		t.Fatalf("signing through a closed key manager: %v", err)
	}

	// A restart: a new key manager on the same token finds every key.
	again := open(t, tok, "lanyard/s1/")
	for id, pub := range made {
		key, err := again.GetKey(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if !pub.(interface{ Equal(crypto.PublicKey) bool }).Equal(key.Public()) {
			t.Fatalf("%s: another public key after reopening", id)
		}
		verify(t, key)
	}
	if _, err := again.GetKey(ctx, "missing"); !errors.Is(err, keymanager.ErrNotFound) {
		t.Fatalf("unknown key: %v, want ErrNotFound", err)
	}
}

func TestGenerateReplacesTheObjectsAndDeleteDestroysThem(t *testing.T) {
	tok := hsmtest.New(t).Token("lanyard")
	k := open(t, tok, "lanyard/s1/")
	ctx := context.Background()
	first, err := k.GenerateKey(ctx, "jwt-a", keymanager.ECP256)
	if err != nil {
		t.Fatal(err)
	}
	second, err := k.GenerateKey(ctx, "jwt-a", keymanager.ECP256)
	if err != nil {
		t.Fatal(err)
	}
	if first.Public().(*ecdsa.PublicKey).Equal(second.Public()) {
		t.Fatal("GenerateKey gave the same key again")
	}
	if _, err := k.GenerateKey(ctx, "jwt-b", keymanager.ECP256); err != nil {
		t.Fatal(err)
	}
	want := []string{"lanyard/s1/jwt-a", "lanyard/s1/jwt-a", "lanyard/s1/jwt-b", "lanyard/s1/jwt-b"}
	if got, _ := k.Labels(ctx); !slices.Equal(got, want) {
		t.Fatalf("objects on the token: %q, want one private and one public key each: %q", got, want)
	}
	if err := k.DeleteKey(ctx, "jwt-a"); err != nil {
		t.Fatal(err)
	}
	if got, _ := k.Labels(ctx); !slices.Equal(got, want[2:]) {
		t.Fatalf("objects after DeleteKey: %q, want %q", got, want[2:])
	}
	if _, err := k.GetKey(ctx, "jwt-a"); !errors.Is(err, keymanager.ErrNotFound) {
		t.Fatalf("GetKey after DeleteKey: %v", err)
	}
	if err := k.DeleteKey(ctx, "jwt-a"); err != nil {
		t.Fatalf("deleting again: %v", err)
	}
	if _, err := first.Sign(rand.Reader, make([]byte, 32), crypto.SHA256); err == nil {
		t.Fatal("a destroyed key still signs")
	}
}

func TestServersOnOneTokenOrOnTwoSlotsNeverSeeEachOthersKeys(t *testing.T) {
	hsm := hsmtest.New(t)
	one, two := hsm.Token("one"), hsm.Token("two")
	ctx := context.Background()
	a, b := open(t, one, "lanyard/server-a/"), open(t, one, "lanyard/server-b/")
	c, err := Open(Config{ModulePath: hsmtest.Module, Slot: two.Slot, PIN: hsmtest.PIN, PINSource: "test", LabelPrefix: "lanyard/server-a/"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	keyA, err := a.GenerateKey(ctx, "x509-ca-1", keymanager.ECP256)
	if err != nil {
		t.Fatal(err)
	}
	for name, other := range map[string]*KeyManager{"another server on the token": b, "the same server ID on another slot": c} {
		if _, err := other.GetKey(ctx, "x509-ca-1"); !errors.Is(err, keymanager.ErrNotFound) {
			t.Fatalf("%s: GetKey = %v, want ErrNotFound", name, err)
		}
		keyB, err := other.GenerateKey(ctx, "x509-ca-1", keymanager.ECP256)
		if err != nil {
			t.Fatal(err)
		}
		if keyB.Public().(*ecdsa.PublicKey).Equal(keyA.Public()) {
			t.Fatalf("%s: same key", name)
		}
		if err := other.DeleteKey(ctx, "x509-ca-1"); err != nil {
			t.Fatal(err)
		}
	}
	a.keys = map[string]*signer{} // forget the cache: read the token
	got, err := a.GetKey(ctx, "x509-ca-1")
	if err != nil {
		t.Fatalf("the others' DeleteKey took server A's key: %v", err)
	}
	if !got.Public().(*ecdsa.PublicKey).Equal(keyA.Public()) {
		t.Fatal("server A's key changed")
	}
}

func TestConcurrentSignaturesAndALostSessionRecover(t *testing.T) {
	tok := hsmtest.New(t).Token("lanyard")
	k := open(t, tok, "lanyard/s1/")
	key, err := k.GenerateKey(context.Background(), "x509-ca-1", keymanager.ECP256)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 20 {
				d := sha256.Sum256([]byte("x"))
				sig, err := key.Sign(rand.Reader, d[:], crypto.SHA256)
				if err != nil || !ecdsa.VerifyASN1(key.Public().(*ecdsa.PublicKey), d[:], sig) {
					t.Errorf("concurrent signature: %v", err)
					return
				}
			}
		}()
	}
	wg.Wait()
	// Every session closes under the key manager, which logs the user out: the next
	// signature opens a new session and logs in again.
	if err := k.ctx.CloseAllSessions(k.slot); err != nil {
		t.Fatal(err)
	}
	verify(t, key)
	if err := k.ctx.CloseAllSessions(k.slot); err != nil {
		t.Fatal(err)
	}
	k.keys = map[string]*signer{}
	if _, err := k.GetKey(context.Background(), "x509-ca-1"); err != nil {
		t.Fatalf("GetKey after the login was lost: %v", err)
	}
}

func TestATokenDeletedUnderTheKeyManagerGivesErrorsNotAPanic(t *testing.T) {
	tok := hsmtest.New(t).Token("lanyard")
	k := open(t, tok, "lanyard/s1/")
	key, err := k.GenerateKey(context.Background(), "x509-ca-1", keymanager.ECP256)
	if err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("softhsm2-util", "--delete-token", "--token", tok.Label).CombinedOutput(); err != nil {
		t.Fatalf("deleting the token: %v\n%s", err, out)
	}
	if _, err := key.Sign(rand.Reader, make([]byte, 32), crypto.SHA256); err == nil || !strings.Contains(err.Error(), `signing with "lanyard/s1/x509-ca-1" on token "lanyard"`) {
		t.Fatalf("signing with a key of a deleted token: %v", err)
	}
	if _, err := k.GenerateKey(context.Background(), "x509-ca-2", keymanager.ECP256); err == nil || !strings.Contains(err.Error(), `generating ec-p256 key x509-ca-2 on token "lanyard"`) {
		t.Fatalf("generating on a deleted token: %v", err)
	}
}
