package deploy

import (
	"bytes"
	"encoding/json"
	"os"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	serverconfig "github.com/lanyard-dev/lanyard/server/config"
)

// TestChartValuesPodCertificates: server.podCertificates (off by default, as
// TestChartDefaultsRenderTheRawManifests checks) renders the server's
// kubernetes_pod_certificates section, checked by the server's own parser, and exactly
// the RBAC of deploy/podcert.yaml for the signer name chosen.
func TestChartValuesPodCertificates(t *testing.T) {
	helm := helmBin(t)
	render := func(t *testing.T, set ...string) (*serverconfig.KubernetesPodCertificatesConfig, map[string]*unstructured.Unstructured) {
		t.Helper()
		objs := objects(t, helmTemplate(t, helm, append([]string{"server.podCertificates.enabled=true"}, set...)...))
		cfg := configOf(t, objs["ConfigMap/lanyard-server"]).(serverconfig.Config)
		if cfg.KubernetesPodCertificates == nil {
			t.Fatal("no kubernetes_pod_certificates in the server's configuration")
		}
		return cfg.KubernetesPodCertificates, objs
	}
	raw, err := os.ReadFile("podcert.yaml")
	must(t, err)
	rbac := objects(t, raw)

	t.Run("enabled with the defaults: the documented signer, in-cluster, and deploy/podcert.yaml's RBAC", func(t *testing.T) {
		k, objs := render(t)
		if k.SignerName != serverconfig.DefaultPodCertSigner || k.KubeconfigPath != "" || k.TTL.D().String() != "1h0m0s" ||
			k.IDTemplate() != serverconfig.DefaultPodCertIDTemplate || !k.PublishTrustBundles() || k.ClusterName != "prod" {
			t.Fatalf("kubernetes_pod_certificates %+v", k)
		}
		for key, want := range rbac {
			got, ok := objs[key]
			if !ok {
				t.Errorf("the chart lacks %s", key)
				continue
			}
			g, _ := json.Marshal(got.Object)
			w, _ := json.Marshal(want.Object)
			if !bytes.Equal(g, w) {
				t.Errorf("%s differs:\nchart %s\nraw   %s", key, g, w)
			}
		}
	})
	t.Run("another signer, TTL and no default identity or trust bundles", func(t *testing.T) {
		k, objs := render(t, "server.podCertificates.signerName=pods.corp.example/svid", "server.podCertificates.ttl=6h",
			"server.podCertificates.defaultSPIFFEIDTemplate=", "server.podCertificates.trustBundles=false")
		if k.SignerName != "pods.corp.example/svid" || k.TTL.D().String() != "6h0m0s" || k.IDTemplate() != "" || k.PublishTrustBundles() {
			t.Fatalf("kubernetes_pod_certificates %+v", k)
		}
		rules, _, _ := unstructured.NestedSlice(objs["ClusterRole/lanyard-server-podcert"].Object, "rules")
		signers := 0
		for _, r := range rules {
			names, _, _ := unstructured.NestedStringSlice(r.(map[string]any), "resourceNames")
			for _, n := range names {
				if n != "pods.corp.example/svid" {
					t.Errorf("the ClusterRole names signer %s", n)
				}
				signers++
			}
		}
		if signers != 2 {
			t.Errorf("%d rules name the signer, want 2 (sign and attest)", signers)
		}
	})
}
