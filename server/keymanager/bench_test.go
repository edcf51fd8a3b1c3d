//go:build cgo

package keymanager_test

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"path/filepath"
	"testing"

	"github.com/lanyard-dev/lanyard/server/keymanager"
	"github.com/lanyard-dev/lanyard/server/keymanager/pkcs11"
	"github.com/lanyard-dev/lanyard/server/keymanager/pkcs11/hsmtest"
)

// BenchmarkSign compares signing throughput (what each X.509-SVID and JWT-SVID costs the
// server's CA key) of the disk key manager and SoftHSM2 through the PKCS#11 key manager.
func BenchmarkSign(b *testing.B) {
	disk, err := keymanager.NewDisk(filepath.Join(b.TempDir(), "keys"))
	if err != nil {
		b.Fatal(err)
	}
	tok := hsmtest.New(b).Token("bench")
	hsm, err := pkcs11.Open(pkcs11.Config{ModulePath: hsmtest.Module, TokenLabel: tok.Label, PIN: hsmtest.PIN, PINSource: "bench", LabelPrefix: "bench/"})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = hsm.Close() })
	digest := sha256.Sum256([]byte("tbs certificate"))
	for _, km := range []struct {
		name string
		km   keymanager.KeyManager
	}{{"disk", disk}, {"softhsm2", hsm}} {
		for _, kt := range []keymanager.KeyType{keymanager.ECP256, keymanager.RSA2048} {
			key, err := km.km.GenerateKey(context.Background(), "bench-"+string(kt), kt)
			if err != nil {
				b.Fatal(err)
			}
			b.Run(km.name+"/"+string(kt), func(b *testing.B) {
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						if _, err := key.Sign(rand.Reader, digest[:], crypto.SHA256); err != nil {
							b.Error(err)
							return
						}
					}
				})
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "sigs/s")
			})
		}
	}
}
