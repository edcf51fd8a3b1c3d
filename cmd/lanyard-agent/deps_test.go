package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestAgentLinksNoServerDependencies keeps the agent binary lean: the k8s_psat
// verifier's client-go and the server's datastore drivers stay in lanyard-server. The one
// k8s.io package allowed is k8s.io/utils/clock, the project's clock (no dependencies).
func TestAgentLinksNoServerDependencies(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, dep := range strings.Fields(string(out)) {
		if dep == "k8s.io/utils/clock" {
			continue
		}
		if strings.HasPrefix(dep, "k8s.io/") || strings.HasPrefix(dep, "github.com/lanyard-dev/lanyard/server/datastore/") || strings.Contains(dep, "sqlite") {
			t.Errorf("lanyard-agent links %s", dep)
		}
	}
}
