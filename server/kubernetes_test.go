package server

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bundlev1 "github.com/spiffe/spire-api-sdk/proto/spire/api/server/bundle/v1"
	entryv1 "github.com/spiffe/spire-api-sdk/proto/spire/api/server/entry/v1"
	"github.com/spiffe/spire-api-sdk/proto/spire/api/types"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/lanyard-dev/lanyard/e2e/k8stest"
	"github.com/lanyard-dev/lanyard/internal/testca"
	"github.com/lanyard-dev/lanyard/server/k8sreg"
)

// TestKubernetesRegistrationIsWiredIn: a server configured with kubernetes_registration
// turns IdentityTemplates into entries its admin API lists.
func TestKubernetesRegistrationIsWiredIn(t *testing.T) {
	k := k8stest.Start(t)
	k.ApplyFile(t, filepath.Join("..", "deploy", "crds", "identitytemplates.yaml"), false)
	k.WaitForResource(t, k8sreg.GVR)
	ts := startServer(t, newConfigFor(t, testTD.Name(), "kubernetes_registration:\n  cluster: prod\n  kubeconfig_path: "+k.Kubeconfig+"\n"))

	_, err := k.Apply(t, []byte(`apiVersion: lanyard.dev/v1alpha1
kind: IdentityTemplate
metadata: {name: all}
spec:
  spiffeIDTemplate: "spiffe://{{ .TrustDomain }}/ns/{{ .PodMeta.Namespace }}/sa/{{ .PodSpec.ServiceAccountName }}"
`), false)
	if err != nil {
		t.Fatal(err)
	}
	k.CreateNamespace(t, "shop")
	node := k.CreateNode(t, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1"}})
	pod := k.CreatePod(t, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "p1"},
		Spec:       corev1.PodSpec{NodeName: "n1", ServiceAccountName: "default", Containers: []corev1.Container{{Name: "c", Image: "i"}}},
	})
	want := "/spire/agent/k8s_psat/prod/" + string(node.UID)
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := entryv1.NewEntryClient(ts.admin).ListEntries(context.Background(), &entryv1.ListEntriesRequest{})
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range resp.Entries {
			if strings.HasPrefix(e.Id, k8sreg.EntryIDPrefix) && e.ParentId.Path == want && e.SpiffeId.Path == "/ns/shop/sa/default" &&
				len(e.Selectors) == 1 && e.Selectors[0].Value == "pod-uid:"+string(pod.UID) {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no entry for pod %s after 30s; entries: %v", pod.UID, resp.Entries)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestBundleIsPublishedToAConfigMap: with kubernetes_bundle set, the server writes its
// CA certificates into the ConfigMap and rewrites them when the bundle changes.
func TestBundleIsPublishedToAConfigMap(t *testing.T) {
	k := k8stest.Start(t)
	k.CreateNamespace(t, "lanyard")
	ts := startServer(t, newConfigFor(t, testTD.Name(), "kubernetes_bundle:\n  namespace: lanyard\n  config_map: lanyard-bundle\n  kubeconfig_path: "+k.Kubeconfig+"\n"))

	published := func() []*x509.Certificate {
		cm, err := k.Client.CoreV1().ConfigMaps("lanyard").Get(context.Background(), "lanyard-bundle", metav1.GetOptions{})
		if err != nil {
			return nil
		}
		var certs []*x509.Certificate
		rest := []byte(cm.Data["bundle.pem"])
		for {
			var b *pem.Block
			if b, rest = pem.Decode(rest); b == nil {
				return certs
			}
			c, err := x509.ParseCertificate(b.Bytes)
			if err != nil {
				t.Fatalf("ConfigMap holds a bad certificate: %v", err)
			}
			certs = append(certs, c)
		}
	}
	want := ts.bundle().X509Authorities()
	waitFor(t, "the bundle in the ConfigMap", func() bool {
		got := published()
		return len(got) == len(want) && len(got) > 0 && got[0].Equal(want[0])
	})

	// An operator adds an upstream root with the bundle API: the ConfigMap follows.
	extra, _ := testca.New(t, "upstream", nil, nil, time.Now().Add(time.Hour))
	_, err := bundlev1.NewBundleClient(ts.admin).AppendBundle(context.Background(), &bundlev1.AppendBundleRequest{
		X509Authorities: []*types.X509Certificate{{Asn1: extra.Raw}},
	})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the appended root in the ConfigMap", func() bool {
		for _, c := range published() {
			if c.Equal(extra) {
				return true
			}
		}
		return false
	})
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
