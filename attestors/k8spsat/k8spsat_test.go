package k8spsat

import (
	"context"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
)

func TestProver(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tok := jwt(`{"aud":["spire-server"],"sub":"system:serviceaccount:spire:agent"}`)
	tests := []struct {
		name      string
		prover    Prover
		wantToken string
		wantErr   string
	}{
		{"the mounted token is sent with the cluster name, trailing newline dropped",
			Prover{Cluster: "c1", TokenPath: write("tok", tok+"\n")}, tok, ""},
		{"a configured audience is accepted in a single-string aud claim",
			Prover{Cluster: "c1", Audience: "lanyard", TokenPath: write("tok-single", jwt(`{"aud":"lanyard"}`))}, jwt(`{"aud":"lanyard"}`), ""},
		{"a token for another audience names the file and the fix",
			Prover{Cluster: "c1", TokenPath: write("tok-other", jwt(`{"aud":["vault"]}`))}, "", `is for audiences ["vault"], not "spire-server"`},
		{"a token without aud is refused", Prover{Cluster: "c1", TokenPath: write("tok-noaud", jwt(`{"sub":"x"}`))}, "", "no aud claim"},
		{"a file that is no JWT is refused", Prover{Cluster: "c1", TokenPath: write("tok-junk", "junk")}, "", "not a JWT"},
		{"a prover without a cluster says to set one", Prover{TokenPath: write("tok2", "x")}, "", "cluster is not set"},
		{"a missing token file names the fix", Prover{Cluster: "c1", TokenPath: filepath.Join(dir, "absent")}, "", "mount a projected token volume"},
		{"an empty token file is reported", Prover{Cluster: "c1", TokenPath: write("empty", "\n")}, "", "is empty"},
		{"a file too large to be a token is refused", Prover{Cluster: "c1", TokenPath: write("big", strings.Repeat("a", MaxPayloadSize))}, "", "too large"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, err := tc.prover.Payload(context.Background())
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error = %v, want it to contain %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			p, err := ParsePayload(b)
			if err != nil {
				t.Fatal(err)
			}
			if p.Cluster != tc.prover.Cluster || p.Token != tc.wantToken {
				t.Fatalf("payload = %+v, want cluster %q token %q", p, tc.prover.Cluster, tc.wantToken)
			}
		})
	}
}

// jwt is an unsigned token with the given claims; only the server verifies signatures.
func jwt(claims string) string {
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(`{"alg":"RS256"}`)) + "." + enc([]byte(claims)) + ".c2ln"
}

func TestPayloadWireFormat(t *testing.T) {
	// SPIRE's agents send exactly this shape; the server must read it.
	p, err := ParsePayload([]byte(`{"cluster":"prod","token":"a.b.c"}`))
	if err != nil || p.Cluster != "prod" || p.Token != "a.b.c" {
		t.Fatalf("ParsePayload = %+v, %v", p, err)
	}
	if _, err := ParsePayload([]byte(`{"cluster":"prod"}`)); err == nil || !strings.Contains(err.Error(), "no token") {
		t.Fatalf("payload without token: err = %v", err)
	}
}

func TestAgentID(t *testing.T) {
	td := spiffeid.RequireTrustDomainFromString("example.org")
	id, err := AgentID(td, "prod", "0f5a3c52-1d2e-4bd0-9d8e-2a4c1b6f7e90")
	if err != nil {
		t.Fatal(err)
	}
	if want := "spiffe://example.org/spire/agent/k8s_psat/prod/0f5a3c52-1d2e-4bd0-9d8e-2a4c1b6f7e90"; id.String() != want {
		t.Fatalf("AgentID = %s, want %s", id, want)
	}
	if _, err := AgentID(td, "bad cluster", "uid"); err == nil {
		t.Fatal("a cluster name with a space made an agent ID")
	}
}
