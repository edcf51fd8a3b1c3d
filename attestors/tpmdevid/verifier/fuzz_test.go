package verifier

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"

	"github.com/lanyard-dev/lanyard/attestors/tpmdevid"
	"github.com/lanyard-dev/lanyard/attestors/tpmdevid/tpmtest"
	"github.com/lanyard-dev/lanyard/internal/pemcert"
)

// FuzzAttest feeds the server an agent's evidence and challenge answer. The committed
// corpus (testdata/fuzz/FuzzAttest) holds a payload recorded from swtpm whose DevID and
// EK certificates chain to the CAs in testdata/recorded, so the fuzzer starts past the
// certificate checks, in the TPM structure parsers. Nothing may be accepted: the answer
// cannot hold this attestation's fresh nonce and secret.
func FuzzAttest(f *testing.F) {
	devIDCA, ekCA := recordedCA(f, "devid-ca.pem"), recordedCA(f, "ek-ca.pem")
	f.Add([]byte(`{"DevIDCert":["AQ=="],"DevIDPub":"AQ==","EKCert":"AQ==","EKPub":"AQ==","AKPub":"AQ==","CertifiedDevID":"AQ==","CertificationSignature":"AQ=="}`),
		[]byte(`{"DevID":"AQ==","CredActivation":"AQ=="}`))
	v, err := New(Config{TrustDomain: td, DevIDRoots: pool(devIDCA), EKRoots: pool(ekCA),
		// The recorded certificates were made valid around the CA's NotBefore + 1h.
		Clock: clocktesting.NewFakePassiveClock(devIDCA.NotBefore.Add(time.Hour))})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, payload, answer []byte) {
		att, err := v.Attest(context.Background(), payload, func(context.Context, []byte) ([]byte, error) { return answer, nil })
		if err == nil {
			t.Fatalf("accepted a replayed answer as %+v", att)
		}
	})
}

func recordedCA(f testing.TB, name string) *x509.Certificate {
	certs, err := pemcert.ReadFile(filepath.Join("testdata", "recorded", name))
	if err != nil {
		f.Fatal(err)
	}
	return certs[0]
}

// TestRecordFuzzSeeds rewrites the recorded corpora from a real attestation against
// swtpm. It runs only with LANYARD_RECORD_TPM_SEEDS=1.
func TestRecordFuzzSeeds(t *testing.T) {
	if os.Getenv("LANYARD_RECORD_TPM_SEEDS") != "1" {
		t.Skip("set LANYARD_RECORD_TPM_SEEDS=1 to re-record the fuzz seeds")
	}
	f := newFixture(t, tpmtest.DevIDOptions{})
	p := f.prover(t)
	payload, err := p.Payload(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var challenge, answer []byte
	_, err = f.verifier(t).Attest(context.Background(), payload, func(ctx context.Context, c []byte) ([]byte, error) {
		challenge = c
		answer, err = p.RespondChallenge(ctx, c)
		return answer, err
	})
	if err != nil {
		t.Fatal(err)
	}
	var pl tpmdevid.Payload
	if err := json.Unmarshal(payload, &pl); err != nil {
		t.Fatal(err)
	}
	f.devIDCA.WritePEM(t, mkdir(t, "testdata", "recorded"), "devid-ca.pem")
	f.ekCA.WritePEM(t, mkdir(t, "testdata", "recorded"), "ek-ca.pem")
	writeSeed(t, mkdir(t, "testdata", "fuzz", "FuzzAttest"), payload, answer)
	writeSeed(t, mkdir(t, "..", "testdata", "fuzz", "FuzzParsePayload"), payload)
	writeSeed(t, mkdir(t, "..", "testdata", "fuzz", "FuzzParseChallenge"), challenge)
	writeSeed(t, mkdir(t, "..", "testdata", "fuzz", "FuzzParseResponse"), answer)
}

func mkdir(t *testing.T, parts ...string) string {
	dir := filepath.Join(parts...)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

func writeSeed(t *testing.T, dir string, args ...[]byte) {
	s := "go test fuzz v1\n"
	for _, a := range args {
		s += fmt.Sprintf("[]byte(%q)\n", a)
	}
	if err := os.WriteFile(filepath.Join(dir, "recorded-swtpm"), []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

// The recorded seed passes every check up to the answer, which belongs to another
// attestation: a replay, refused for that reason (and not, say, for an expired
// certificate, which would leave the fuzzer outside the TPM structure parsers).
func TestRecordedAttestationReplayIsRefused(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("testdata", "fuzz", "FuzzAttest", "recorded-swtpm"))
	if err != nil {
		t.Fatal(err)
	}
	var payload, answer string
	if _, err := fmt.Sscanf(string(b), "go test fuzz v1\n[]byte(%q)\n[]byte(%q)\n", &payload, &answer); err != nil {
		t.Fatalf("corpus file: %v", err)
	}
	devIDCA, ekCA := recordedCA(t, "devid-ca.pem"), recordedCA(t, "ek-ca.pem")
	v, err := New(Config{TrustDomain: td, DevIDRoots: pool(devIDCA), EKRoots: pool(ekCA),
		Clock: clocktesting.NewFakePassiveClock(devIDCA.NotBefore.Add(time.Hour))})
	if err != nil {
		t.Fatal(err)
	}
	_, err = v.Attest(context.Background(), []byte(payload), func(context.Context, []byte) ([]byte, error) { return []byte(answer), nil })
	wantRejected(t, err, "the DevID signature does not verify over this attestation's nonce")
}

// FuzzTPMStructures feeds the TPM structures of the evidence (public areas, TPMS_ATTEST,
// TPMT_SIGNATURE) straight to the residency checks, seeded from the recorded payload,
// where mutating bytes inside base64 JSON rarely reaches them.
func FuzzTPMStructures(f *testing.F) {
	b, err := os.ReadFile(filepath.Join("testdata", "fuzz", "FuzzAttest", "recorded-swtpm"))
	if err != nil {
		f.Fatal(err)
	}
	var payload, answer string
	if _, err := fmt.Sscanf(string(b), "go test fuzz v1\n[]byte(%q)\n[]byte(%q)\n", &payload, &answer); err != nil {
		f.Fatal(err)
	}
	var p tpmdevid.Payload
	if err := json.Unmarshal([]byte(payload), &p); err != nil {
		f.Fatal(err)
	}
	f.Add(p.DevIDPub, p.AKPub, p.EKPub, p.CertifiedDevID, p.CertificationSignature)
	devIDCA, ekCA := recordedCA(f, "devid-ca.pem"), recordedCA(f, "ek-ca.pem")
	now := devIDCA.NotBefore.Add(time.Hour)
	devID, _, err := verifyDevIDCert(p.DevIDCert, pool(devIDCA), now)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, devIDPub, akPub, ekPub, attest, sig []byte) {
		q := p
		q.DevIDPub, q.AKPub, q.EKPub, q.CertifiedDevID, q.CertificationSignature = devIDPub, akPub, ekPub, attest, sig
		r, err := checkResidency(&q, devID, pool(ekCA), now)
		if err != nil {
			return
		}
		if _, _, err := r.credentialChallenge(); err != nil {
			t.Logf("challenge: %v", err)
		}
	})
}
