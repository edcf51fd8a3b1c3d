package k8spsat

import (
	"encoding/base64"
	"encoding/json"
	"slices"
	"strings"
	"testing"
)

// FuzzParsePayload feeds the evidence an agent sends to the server. Accepted evidence
// names a cluster and carries a token, and re-encoding it gives the same evidence.
func FuzzParsePayload(f *testing.F) {
	for _, s := range []string{
		`{"cluster":"prod","token":"eyJhbGciOiJSUzI1NiJ9.eyJhdWQiOlsic3BpcmUtc2VydmVyIl19.c2ln"}`,
		`{"cluster":"prod","token":""}`,
		`{"cluster":"","token":"t"}`,
		`{"cluster":"prod","token":"t","extra":1}`,
		`{"cluster":"prod","token":"t"} trailing`,
		`{"cluster":"prod","Cluster":"dev","token":"t"}`,
		`{"cluster":"\u0000","token":"\ud800"}`,
		`null`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := ParsePayload(b)
		if err != nil {
			return
		}
		if p.Cluster == "" || p.Token == "" || len(b) > MaxPayloadSize {
			t.Fatalf("accepted %q as %+v", b, p)
		}
		again, err := json.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		if back, err := ParsePayload(again); err != nil || back != p {
			t.Fatalf("payload %+v does not survive re-encoding (%v): %+v", p, err, back)
		}
	})
}

// FuzzTokenAudiences feeds the agent's projected token file to the audience check the
// agent makes before sending it.
func FuzzTokenAudiences(f *testing.F) {
	enc := func(claims string) string {
		return "eyJhbGciOiJSUzI1NiJ9." + base64.RawURLEncoding.EncodeToString([]byte(claims)) + ".c2ln"
	}
	for _, s := range []string{
		enc(`{"aud":["spire-server","api"],"sub":"system:serviceaccount:spire:spire-agent"}`),
		enc(`{"aud":"spire-server"}`),
		enc(`{"aud":null}`),
		enc(`{"aud":[]}`),
		enc(`{"aud":[1,2]}`),
		enc(`{}`),
		"a.b",
		"a.!!.c",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, token string) {
		auds, err := tokenAudiences(token)
		if err != nil {
			return
		}
		if strings.Count(token, ".") != 2 {
			t.Fatalf("read audiences %q from %q, which is not three dot-separated parts", auds, token)
		}
		// What was read must be what the claims say: the server compares the same claim.
		parts := strings.Split(token, ".")
		body, _ := base64.RawURLEncoding.DecodeString(parts[1])
		var claims struct {
			Aud any `json:"aud"`
		}
		if err := json.Unmarshal(body, &claims); err != nil {
			t.Fatalf("read audiences from claims that are not JSON: %v", err)
		}
		switch aud := claims.Aud.(type) {
		case string:
			if !slices.Equal(auds, []string{aud}) {
				t.Fatalf("aud %q read as %q", aud, auds)
			}
		case []any:
			if len(aud) != len(auds) {
				t.Fatalf("aud %v read as %q", aud, auds)
			}
		}
	})
}
