package k8sreg_test

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	entryv1 "github.com/spiffe/spire-api-sdk/proto/spire/api/server/entry/v1"
	"github.com/spiffe/spire-api-sdk/proto/spire/api/types"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"

	"github.com/lanyard-dev/lanyard/e2e/k8stest"
	entryapi "github.com/lanyard-dev/lanyard/server/api/entry"
	"github.com/lanyard-dev/lanyard/server/datastore"
	"github.com/lanyard-dev/lanyard/server/datastore/sqlite"
	"github.com/lanyard-dev/lanyard/server/entrycache"
	"github.com/lanyard-dev/lanyard/server/k8sreg"
)

var td = spiffeid.RequireTrustDomainFromString("example.org")

// harness is a real apiserver with the CRD installed, a real SQLite datastore behind the
// real entry service, and a running controller.
type harness struct {
	t       *testing.T
	k       *k8stest.Cluster
	dyn     dynamic.Interface
	entries *entryapi.Service
	node    *corev1.Node
}

func start(t *testing.T) *harness {
	k := k8stest.Start(t)
	k.ApplyFile(t, filepath.Join("..", "..", "deploy", "crds", "identitytemplates.yaml"), false)
	k.WaitForResource(t, k8sreg.GVR)

	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	store, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "ds.sqlite3"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	// Templates federate with partner.example; entries may only name trust domains the
	// server knows.
	if _, err := store.SetBundle(ctx, &datastore.Bundle{TrustDomain: "partner.example"}); err != nil {
		t.Fatal(err)
	}
	cache, err := entrycache.New(ctx, entrycache.Config{Store: store, TrustDomain: td})
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, k: k, dyn: k.Dynamic(t), entries: entryapi.New(entryapi.Config{TrustDomain: td, Store: store, Authorized: cache, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})}
	c, err := k8sreg.New(k8sreg.Config{TrustDomain: td, Cluster: "c1", Kube: k.Client, Dynamic: h.dyn, Entries: h.entries,
		Settle: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("controller: %v", err)
		}
	})
	h.node = k.CreateNode(t, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-1"}})
	return h
}

func (h *harness) template(name string, spec map[string]any) {
	h.t.Helper()
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "lanyard.dev/v1alpha1", "kind": "IdentityTemplate",
		"metadata": map[string]any{"name": name}, "spec": spec,
	}}
	if _, err := h.dyn.Resource(k8sreg.GVR).Create(context.Background(), u, metav1.CreateOptions{}); err != nil {
		h.t.Fatalf("creating IdentityTemplate %s: %v", name, err)
	}
}

func (h *harness) pod(ns, name, sa string, labels map[string]string) *corev1.Pod {
	h.t.Helper()
	return h.k.CreatePod(h.t, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: labels},
		Spec: corev1.PodSpec{NodeName: h.node.Name, ServiceAccountName: sa,
			Containers: []corev1.Container{{Name: "app", Image: "example/app:1"}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning},
	})
}

// owned lists the controller's entries.
func (h *harness) owned() []*types.Entry {
	resp, err := h.entries.ListEntries(context.Background(), &entryv1.ListEntriesRequest{})
	if err != nil {
		h.t.Fatal(err)
	}
	var out []*types.Entry
	for _, e := range resp.Entries {
		if strings.HasPrefix(e.Id, k8sreg.EntryIDPrefix) {
			out = append(out, e)
		}
	}
	return out
}

func (h *harness) entryFor(pod *corev1.Pod) *types.Entry {
	for _, e := range h.owned() {
		for _, s := range e.Selectors {
			if s.Type == "k8s" && s.Value == "pod-uid:"+string(pod.UID) {
				return e
			}
		}
	}
	return nil
}

func (h *harness) status(name string) map[string]any {
	u, err := h.dyn.Resource(k8sreg.GVR).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		h.t.Fatal(err)
	}
	st, _, _ := unstructured.NestedMap(u.Object, "status")
	return st
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestPodsGetTemplatedEntries(t *testing.T) {
	h := start(t)
	h.k.CreateNamespace(t, "shop")
	h.k.CreateServiceAccount(t, "shop", "web")
	h.template("by-sa", map[string]any{
		"spiffeIDTemplate": "spiffe://{{ .TrustDomain }}/ns/{{ .PodMeta.Namespace }}/sa/{{ .PodSpec.ServiceAccountName }}",
		"podSelector":      map[string]any{"matchLabels": map[string]any{"app": "web"}},
		"dnsNameTemplates": []any{"{{ .PodMeta.Name }}.{{ .PodMeta.Namespace }}.svc.{{ .ClusterDomain }}"},
		"ttl":              "10m",
		"federatesWith":    []any{"partner.example"},
	})
	web := h.pod("shop", "web-1", "web", map[string]string{"app": "web"})
	other := h.pod("shop", "db-1", "default", map[string]string{"app": "db"})

	var e *types.Entry
	eventually(t, "the entry of the selected pod", func() bool { e = h.entryFor(web); return e != nil })
	t.Run("the entry is rendered from the template and parented to the node's agent", func(t *testing.T) {
		if got := "spiffe://example.org" + e.SpiffeId.Path; got != "spiffe://example.org/ns/shop/sa/web" {
			t.Errorf("SPIFFE ID %s", got)
		}
		if want := "/spire/agent/k8s_psat/c1/" + string(h.node.UID); e.ParentId.Path != want {
			t.Errorf("parent %s, want %s", e.ParentId.Path, want)
		}
		if !slices.Equal(e.DnsNames, []string{"web-1.shop.svc.cluster.local"}) || e.X509SvidTtl != 600 ||
			!slices.Equal(e.FederatesWith, []string{"partner.example"}) {
			t.Errorf("dns %v, ttl %d, federates %v", e.DnsNames, e.X509SvidTtl, e.FederatesWith)
		}
	})
	t.Run("a pod the selector does not match gets no entry", func(t *testing.T) {
		if h.entryFor(other) != nil {
			t.Fatal("db pod got an entry")
		}
	})
	t.Run("the template's status counts the pods", func(t *testing.T) {
		eventually(t, "status podsSelected=1 entries=1", func() bool {
			st := h.status("by-sa")
			return st["podsSelected"] == int64(1) && st["entries"] == int64(1) && st["error"] == nil
		})
	})
	t.Run("new pods are added and unchanged entries are left alone", func(t *testing.T) {
		rev := h.entryFor(web).RevisionNumber
		web2 := h.pod("shop", "web-2", "web", map[string]string{"app": "web"})
		eventually(t, "the second pod's entry", func() bool { return h.entryFor(web2) != nil })
		if got := h.entryFor(web).RevisionNumber; got != rev {
			t.Fatalf("the first entry was rewritten (revision %d -> %d) though nothing about it changed", rev, got)
		}
	})
	t.Run("a deleted pod's entry is removed", func(t *testing.T) {
		h.k.DeletePod(t, "shop", "web-1")
		eventually(t, "the deleted pod's entry to go", func() bool { return h.entryFor(web) == nil })
	})
}

func TestTemplateErrorsShowInStatus(t *testing.T) {
	h := start(t)
	h.k.CreateNamespace(t, "apps")
	pod := h.pod("apps", "p", "default", nil)
	h.template("broken", map[string]any{"spiffeIDTemplate": "spiffe://{{ .TrustDomain }/oops"})
	h.template("wrong-domain", map[string]any{"spiffeIDTemplate": "spiffe://elsewhere.org/{{ .PodMeta.Name }}"})
	h.template("missing-field", map[string]any{"spiffeIDTemplate": "spiffe://{{ .TrustDomain }}/{{ .PodMeta.Nope }}"})
	for name, want := range map[string]string{
		"broken":        "spec.spiffeIDTemplate",
		"wrong-domain":  "outside trust domain",
		"missing-field": "Nope",
	} {
		eventually(t, name+" status error", func() bool {
			msg, _ := h.status(name)["error"].(string)
			return strings.Contains(msg, want)
		})
	}
	if e := h.entryFor(pod); e != nil {
		t.Fatalf("a failing template produced entry %v", e)
	}
}

func TestNamespaceSelector(t *testing.T) {
	h := start(t)
	h.k.CreateNamespace(t, "team-a")
	h.k.CreateNamespace(t, "team-b")
	for _, ns := range []string{"team-a", "team-b"} {
		n, err := h.k.Client.CoreV1().Namespaces().Get(context.Background(), ns, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		n.Labels = map[string]string{"mesh": map[string]string{"team-a": "on", "team-b": "off"}[ns]}
		if _, err := h.k.Client.CoreV1().Namespaces().Update(context.Background(), n, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	a := h.pod("team-a", "a", "default", nil)
	b := h.pod("team-b", "b", "default", nil)
	h.template("mesh", map[string]any{
		"spiffeIDTemplate":  "spiffe://{{ .TrustDomain }}/ns/{{ .PodMeta.Namespace }}/pod/{{ .PodMeta.Name }}",
		"namespaceSelector": map[string]any{"matchLabels": map[string]any{"mesh": "on"}},
	})
	eventually(t, "team-a's pod entry", func() bool { return h.entryFor(a) != nil })
	if h.entryFor(b) != nil {
		t.Fatal("a pod in a namespace the selector excludes got an entry")
	}
}
