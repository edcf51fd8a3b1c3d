package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestAgentLinksNoServerDependencies keeps the agent binary lean: no server package
// (attestors keep their server halves in verifier subpackages), no k8s_psat verifier
// client-go, no datastore drivers. The one k8s.io package allowed is k8s.io/utils/clock,
// the project's clock (no dependencies).
func TestAgentLinksNoServerDependencies(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, dep := range strings.Fields(string(out)) {
		if dep == "k8s.io/utils/clock" {
			continue
		}
		if strings.HasPrefix(dep, "k8s.io/") || strings.HasPrefix(dep, "github.com/lanyard-dev/lanyard/server/") || strings.HasSuffix(dep, "/verifier") || strings.Contains(dep, "sqlite") {
			t.Errorf("lanyard-agent links %s", dep)
		}
	}
}
