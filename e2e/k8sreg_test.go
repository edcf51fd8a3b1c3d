package e2e

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lanyard-dev/lanyard/e2e/k8stest"
	"github.com/lanyard-dev/lanyard/server/k8sreg"
)

// TestTemplatedIdentityReachesAPodWorkload: with the CRD and one IdentityTemplate, and no
// entry created by hand, a process in a real pod's container cgroup gets the SVID the
// template names for that pod, and the entry goes when the pod is deleted.
func TestTemplatedIdentityReachesAPodWorkload(t *testing.T) {
	requireRoot(t)
	e := newK8sEnvWith(t, func(c *k8stest.Cluster) {
		c.ApplyFile(t, filepath.Join("..", "deploy", "crds", "identitytemplates.yaml"), false)
		c.WaitForResource(t, k8sreg.GVR)
		if _, err := c.Apply(t, []byte(`apiVersion: lanyard.dev/v1alpha1
kind: IdentityTemplate
metadata: {name: by-service-account}
spec:
  spiffeIDTemplate: "spiffe://{{ .TrustDomain }}/ns/{{ .PodMeta.Namespace }}/sa/{{ .PodSpec.ServiceAccountName }}"
  namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: shop}}
`), false); err != nil {
			t.Fatal(err)
		}
	}, "kubernetes_registration:\n  cluster: c1\n  kubeconfig_path: %s\n")
	e.startK8sAgent(t)
	webCgroup, dbCgroup := workloadCgroups(t, e)

	t.Run("the web pod's process gets its templated SVID", func(t *testing.T) {
		eventually(t, 30*time.Second, "the templated web SVID", func() bool {
			out, err := e.runInCgroup(t, webCgroup, "x509")
			return err == nil && strings.Contains(out, "svid "+e.id("ns/shop/sa/web")) && !strings.Contains(out, "sa/db")
		})
	})
	t.Run("the db pod's process gets db's, not web's", func(t *testing.T) {
		eventually(t, 30*time.Second, "the templated db SVID", func() bool {
			out, err := e.runInCgroup(t, dbCgroup, "x509")
			return err == nil && strings.Contains(out, "svid "+e.id("ns/shop/sa/db")) && !strings.Contains(out, "sa/web")
		})
	})
	t.Run("deleting the pod removes its identity, and only its", func(t *testing.T) {
		// The kubelet stops the pod's containers, so its processes are gone with it;
		// what must go too is the entry.
		e.c.DeletePod(t, "shop", e.web.Name)
		eventually(t, 30*time.Second, "the web pod's entry to be removed", func() bool {
			return !strings.Contains(e.cli("entry", "show"), e.id("ns/shop/sa/web"))
		})
		out, err := e.runInCgroup(t, dbCgroup, "x509")
		if err != nil || !strings.Contains(out, "svid "+e.id("ns/shop/sa/db")) {
			t.Fatalf("the db process lost its identity too: %q, %v", out, err)
		}
	})
}
