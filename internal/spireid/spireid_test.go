package spireid

import (
	"testing"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
)

func TestShapes(t *testing.T) {
	td := spiffeid.RequireTrustDomainFromString("example.org")
	if got := Server(td).String(); got != "spiffe://example.org/spire/server" {
		t.Fatalf("Server = %s", got)
	}
	for id, want := range map[string]bool{
		"spiffe://example.org/spire/agent/join_token/abc": true,
		"spiffe://example.org/spire/agent/k8s_psat/c1/n1": true,
		"spiffe://other.org/spire/agent/join_token/abc":   false, // another trust domain's agent
		"spiffe://example.org/spire/server":               false,
		"spiffe://example.org/spire/agentsmith":           false, // prefix must end at a slash
		"spiffe://example.org/workload/spire/agent/x":     false,
	} {
		if got := IsAgent(td, spiffeid.RequireFromString(id)); got != want {
			t.Errorf("IsAgent(%s) = %v, want %v", id, got, want)
		}
	}
}
