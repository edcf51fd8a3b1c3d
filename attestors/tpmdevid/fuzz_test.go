package tpmdevid

import (
	"encoding/json"
	"reflect"
	"testing"
)

// The committed corpora (testdata/fuzz) hold messages recorded from a real attestation
// against swtpm (verifier.TestRecordFuzzSeeds).

// FuzzParsePayload feeds the evidence an agent sends to the server. Accepted evidence has
// every part, and re-encoding it gives the same evidence.
func FuzzParsePayload(f *testing.F) {
	for _, s := range []string{
		`{"DevIDCert":["AQ=="],"DevIDPub":"AQ==","EKCert":"AQ==","EKPub":"AQ==","AKPub":"AQ==","CertifiedDevID":"AQ==","CertificationSignature":"AQ=="}`,
		`{"DevIDCert":[],"DevIDPub":"AQ=="}`,
		`{"DevIDCert":[""]}`,
		`{"devidcert":["AQ=="]} {}`,
		`null`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := ParsePayload(b)
		if err != nil {
			return
		}
		if len(p.DevIDCert) == 0 || len(p.EKCert) == 0 || len(p.AKPub) == 0 || len(b) > MaxMessageSize {
			t.Fatalf("accepted %q as %+v", b, p)
		}
		roundTrip(t, p, ParsePayload)
	})
}

// FuzzParseChallenge feeds a server's challenge to the agent.
func FuzzParseChallenge(f *testing.F) {
	for _, s := range []string{
		`{"DevID":"AQ==","CredActivation":{"Credential":"AQ==","Secret":"AQ=="}}`,
		`{"DevID":"AQ==","CredActivation":null}`,
		`{"DevID":"AQ==","CredActivation":{"Credential":"","Secret":"AQ=="}}`,
		`{"DevID":"!!"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := ParseChallenge(b)
		if err != nil {
			return
		}
		if len(c.DevID) == 0 || c.CredActivation == nil || len(c.CredActivation.Secret) == 0 {
			t.Fatalf("accepted %q as %+v", b, c)
		}
		roundTrip(t, c, ParseChallenge)
	})
}

// FuzzParseResponse feeds an agent's answer to the server.
func FuzzParseResponse(f *testing.F) {
	for _, s := range []string{
		`{"DevID":"AQ==","CredActivation":"AQ=="}`,
		`{"DevID":"AQ=="}`,
		`{"DevID":"AQ==","CredActivation":"AQ=="}]`,
		`[]`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := ParseResponse(b)
		if err != nil {
			return
		}
		if len(r.DevID) == 0 || len(r.CredActivation) == 0 {
			t.Fatalf("accepted %q as %+v", b, r)
		}
		roundTrip(t, r, ParseResponse)
	})
}

func roundTrip[T any](t *testing.T, v *T, parse func([]byte) (*T, error)) {
	t.Helper()
	again, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	back, err := parse(again)
	if err != nil || !reflect.DeepEqual(back, v) {
		t.Fatalf("%+v does not survive re-encoding (%v): %+v", v, err, back)
	}
}
