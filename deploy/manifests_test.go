package deploy

import (
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	agentconfig "github.com/lanyard-dev/lanyard/agent/config"
	"github.com/lanyard-dev/lanyard/e2e/k8stest"
	serverconfig "github.com/lanyard-dev/lanyard/server/config"
	"github.com/lanyard-dev/lanyard/server/k8sreg"
)

// TestManifestsAreAcceptedByARealAPIServer applies every manifest with server-side dry
// run (the apiserver validates and admits each object, storing nothing), and parses the
// configuration the ConfigMaps carry with the binaries' own parsers.
func TestManifestsAreAcceptedByARealAPIServer(t *testing.T) {
	k := k8stest.Start(t)
	k.ApplyFile(t, "namespace.yaml", false)
	k.ApplyFile(t, "crds/identitytemplates.yaml", false)
	k.WaitForResource(t, k8sreg.GVR)

	configs := map[string]string{}
	for _, f := range []string{"server.yaml", "agent.yaml"} {
		for _, obj := range k.ApplyFile(t, f, true) {
			if obj.GetKind() != "ConfigMap" {
				continue
			}
			data, _, _ := unstructured.NestedStringMap(obj.Object, "data")
			for name, v := range data {
				configs[name] = v
			}
		}
	}
	t.Run("the server ConfigMap holds a valid server configuration", func(t *testing.T) {
		cfg, err := serverconfig.Parse([]byte(configs["server.yaml"]))
		if err != nil {
			t.Fatal(err)
		}
		if cfg.KubernetesRegistration == nil || cfg.KubernetesRegistration.Cluster != "prod" {
			t.Fatal("the manifest's server does not register pods of cluster prod")
		}
		if b := cfg.KubernetesBundle; b == nil || b.Namespace != "lanyard" || b.ConfigMap != "lanyard-bundle" {
			t.Fatal("the manifest's server does not publish the bundle the agents mount")
		}
	})
	t.Run("the agent ConfigMap holds a valid agent configuration", func(t *testing.T) {
		t.Setenv("MY_NODE_NAME", "node-1") // the DaemonSet sets it from spec.nodeName
		cfg, err := agentconfig.Parse([]byte(configs["agent.yaml"]))
		if err != nil {
			t.Fatal(err)
		}
		if cfg.NodeAttestor != "k8s_psat" || cfg.K8sPSAT.Cluster != "prod" || cfg.WorkloadAttestors.K8s == nil {
			t.Fatalf("the manifest's agent does not attest with k8s_psat for cluster prod and k8s workloads: %+v", cfg)
		}
	})
	t.Run("an example IdentityTemplate is accepted", func(t *testing.T) {
		if _, err := k.Apply(t, []byte(`apiVersion: lanyard.dev/v1alpha1
kind: IdentityTemplate
metadata: {name: example}
spec:
  spiffeIDTemplate: "spiffe://{{ .TrustDomain }}/ns/{{ .PodMeta.Namespace }}/sa/{{ .PodSpec.ServiceAccountName }}"
  podSelector: {matchLabels: {mesh: "on"}}
  ttl: 1h
`), true); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("a template without spiffeIDTemplate is refused by the schema", func(t *testing.T) {
		if _, err := k.Apply(t, []byte("apiVersion: lanyard.dev/v1alpha1\nkind: IdentityTemplate\nmetadata: {name: bad}\nspec: {ttl: 1h}\n"), true); err == nil {
			t.Fatal("accepted")
		}
	})
}
