package podcert

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/spiffe/go-spiffe/v2/bundle/x509bundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	certsv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/lanyard-dev/lanyard/e2e/k8stest"
	"github.com/lanyard-dev/lanyard/internal/poll"
	"github.com/lanyard-dev/lanyard/server/ca"
	"github.com/lanyard-dev/lanyard/server/clustertrustbundle"
	"github.com/lanyard-dev/lanyard/server/datastore"
	"github.com/lanyard-dev/lanyard/server/datastore/sqlite"
	"github.com/lanyard-dev/lanyard/server/k8sreg"
	"github.com/lanyard-dev/lanyard/server/keymanager"
)

var td = spiffeid.RequireTrustDomainFromString("example.org")

// cluster is a real apiserver with the IdentityTemplate CRD, nodes node-1 and node-2,
// and a real SQLite datastore that the CAs of the test's signers share, as servers do.
type cluster struct {
	k     *k8stest.Cluster
	store datastore.Store
	nodes map[string]*corev1.Node
}

func startCluster(t testing.TB) *cluster {
	k := k8stest.Start(t)
	k.ApplyFile(t, filepath.Join("..", "..", "deploy", "crds", "identitytemplates.yaml"), false)
	k.WaitForResource(t, k8sreg.GVR)
	store, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "ds.sqlite3"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	c := &cluster{k: k, store: store, nodes: map[string]*corev1.Node{}}
	for _, name := range k8stest.NodeNames {
		c.nodes[name] = k.CreateNode(t, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}})
	}
	return c
}

// newCA is one server's CA (its own key manager and journal) on the shared datastore.
func (c *cluster) newCA(t testing.TB, serverID string) *ca.CA {
	a, err := ca.New(context.Background(), ca.Config{TrustDomain: td, ServerID: serverID, KeyManager: keymanager.NewMemory(), Store: c.store})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// signer is a running Signer with its own metrics.
type signer struct {
	*Signer
	reg *prometheus.Registry
}

func (c *cluster) runSigner(t testing.TB, a CA, mutate func(*Config)) *signer {
	reg := prometheus.NewRegistry()
	cfg := Config{TrustDomain: td, SignerName: "lanyard.dev/spiffe-x509", Kube: c.k.Client, Dynamic: c.k.Dynamic(t), CA: a,
		DefaultIDTemplate: "spiffe://{{ .TrustDomain }}/ns/{{ .PodMeta.Namespace }}/sa/{{ .PodSpec.ServiceAccountName }}", Metrics: reg}
	if mutate != nil {
		mutate(&cfg)
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("signer: %v", err)
		}
	})
	return &signer{Signer: s, reg: reg}
}

func (s *signer) answers(result string) int {
	var m dto.Metric
	if err := s.metrics.answers.WithLabelValues(result).Write(&m); err != nil {
		panic(err) // a counter always writes
	}
	return int(m.GetCounter().GetValue())
}

// awaitTemplate waits until the signer's cache holds the opted-in IdentityTemplate name.
func (s *signer) awaitTemplate(t *testing.T, name string) {
	t.Helper()
	poll.Until(t, 20*time.Second, "the signer to see IdentityTemplate "+name, func() bool {
		ts, _ := s.templates.podTemplates()
		return slices.ContainsFunc(ts, func(pt *k8sreg.PodTemplate) bool { return pt.Name() == name })
	})
}

func counter(t *testing.T, c prometheus.Counter) int {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return int(m.GetCounter().GetValue())
}

// pod creates a running pod on node with a podCertificate volume for signerName.
func (c *cluster) pod(t testing.TB, ns, name, sa, node, signerName string, labels map[string]string) *corev1.Pod {
	t.Helper()
	return c.k.CreatePod(t, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: labels},
		Spec: corev1.PodSpec{NodeName: node, ServiceAccountName: sa,
			Containers: []corev1.Container{{Name: "app", Image: "example/app:1"}},
			Volumes:    []corev1.Volume{k8stest.PodCertificateVolume(signerName, "ECDSAP256")}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning},
	})
}

// request has the kubelet of the pod's node ask for a certificate for key, changed by
// mutate, and returns the answered request.
func (c *cluster) request(t *testing.T, pod *corev1.Pod, signerName string, key crypto.Signer, mutate func(*certsv1.PodCertificateRequest)) (*certsv1.PodCertificateRequest, metav1.Condition) {
	t.Helper()
	pcr := c.k.PodCertificateRequest(t, pod, signerName, key)
	if mutate != nil {
		mutate(pcr)
	}
	created, err := k8stest.CreatePodCertificateRequest(t, c.k.NodeClient(t, pod.Spec.NodeName), pcr, true)
	if err != nil {
		t.Fatalf("the kubelet of %s could not create a PodCertificateRequest for pod %s/%s: %v", pod.Spec.NodeName, pod.Namespace, pod.Name, err)
	}
	return c.k.AwaitPodCertificateAnswer(t, created.Namespace, created.Name, 30*time.Second)
}

// template creates an IdentityTemplate.
func (c *cluster) template(t *testing.T, name string, spec map[string]any) {
	t.Helper()
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "lanyard.dev/v1alpha1", "kind": "IdentityTemplate",
		"metadata": map[string]any{"name": name}, "spec": spec,
	}}
	if _, err := c.k.Dynamic(t).Resource(k8sreg.GVR).Create(context.Background(), u, metav1.CreateOptions{}); err != nil {
		t.Fatalf("creating IdentityTemplate %s: %v", name, err)
	}
}

// trustBundle publishes the ClusterTrustBundles of signerName once and returns the trust
// domain's, parsed as go-spiffe's bundle.
func (c *cluster) trustBundle(t *testing.T, signerName string, changes clustertrustbundle.Changes) *x509bundle.Bundle {
	t.Helper()
	p, err := clustertrustbundle.New(clustertrustbundle.Config{Kube: c.k.Client, TrustDomain: td.Name(), SignerName: signerName,
		Bundles: c.store, Changes: changes})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Publish(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctb, err := c.k.Client.CertificatesV1().ClusterTrustBundles().Get(context.Background(), clustertrustbundle.Name(signerName, td.Name()), metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := x509bundle.Parse(td, []byte(ctb.Spec.TrustBundle))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func ecKey(t testing.TB) crypto.Signer {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// chain parses an issued request's certificate chain.
func chain(t *testing.T, pcr *certsv1.PodCertificateRequest) []*x509.Certificate {
	t.Helper()
	var out []*x509.Certificate
	rest := []byte(pcr.Status.CertificateChain)
	for {
		var b *pem.Block
		if b, rest = pem.Decode(rest); b == nil {
			break
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		t.Fatalf("no certificate in the chain of %s", pcr.Name)
	}
	return out
}
