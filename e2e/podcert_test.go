package e2e

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/bundle/x509bundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"
	certsv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/lanyard-dev/lanyard/e2e/k8stest"
	"github.com/lanyard-dev/lanyard/internal/testca"
	"github.com/lanyard-dev/lanyard/server/clustertrustbundle"
	"github.com/lanyard-dev/lanyard/server/k8sreg"
)

const podCertSigner = "lanyard.dev/spiffe-x509"

// TestPodCertificatesFromTheServerBinary runs lanyard-server with
// kubernetes_pod_certificates, authenticated as its ServiceAccount with exactly the RBAC
// of deploy/podcert.yaml: a kubelet's request (made as the node) is issued an SVID that
// verifies against the published ClusterTrustBundle, a forced CA rotation reaches the
// ClusterTrustBundle and the next certificates, and a federation relationship's bundle
// is published and withdrawn with it.
func TestPodCertificatesFromTheServerBinary(t *testing.T) {
	requireRoot(t)
	c := k8stest.Start(t)
	d := startPodCertSigner(t, c, "")
	c.CreateNode(t, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-1"}})
	c.CreateNamespace(t, "shop")
	c.CreateServiceAccount(t, "shop", "web")
	pod := c.CreatePod(t, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web-1"},
		Spec: corev1.PodSpec{NodeName: "node-1", ServiceAccountName: "web",
			Containers: []corev1.Container{{Name: "app", Image: "example/app:1"}},
			Volumes:    []corev1.Volume{k8stest.PodCertificateVolume(podCertSigner, "ECDSAP256")}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning},
	})
	td := spiffeid.RequireTrustDomainFromString(d.td)
	ctbName := clustertrustbundle.Name(podCertSigner, d.td)
	trust := func() (*x509bundle.Bundle, error) {
		ctb, err := c.Client.CertificatesV1().ClusterTrustBundles().Get(context.Background(), ctbName, metav1.GetOptions{})
		if err != nil {
			return nil, err
		}
		return x509bundle.Parse(td, []byte(ctb.Spec.TrustBundle))
	}
	issue := func(t *testing.T) []*x509.Certificate {
		t.Helper()
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		pcr, err := k8stest.CreatePodCertificateRequest(t, c.NodeClient(t, "node-1"), c.PodCertificateRequest(t, pod, podCertSigner, key), true)
		if err != nil {
			t.Fatal(err)
		}
		answered, cond := c.AwaitPodCertificateAnswer(t, "shop", pcr.Name, 30*time.Second)
		if cond.Type != certsv1.PodCertificateRequestConditionTypeIssued {
			t.Fatalf("answer %s %s: %s\n%s", cond.Type, cond.Reason, cond.Message, d.server.Output())
		}
		return pemCertificates(t, answered.Status.CertificateChain)
	}

	t.Run("the kubelet's request is issued the pod's SVID, verifying against the ClusterTrustBundle", func(t *testing.T) {
		certs := issue(t)
		var b *x509bundle.Bundle
		eventually(t, 30*time.Second, "the ClusterTrustBundle", func() bool { var err error; b, err = trust(); return err == nil })
		id, _, err := x509svid.Verify(certs, b)
		if err != nil || id.String() != d.id("ns/shop/sa/web") {
			t.Fatalf("verified %s, %v; want %s", id, err, d.id("ns/shop/sa/web"))
		}
		if !strings.Contains(d.server.Output(), "pod certificate issued") {
			t.Error("the server did not log the issue")
		}
	})

	t.Run("a forced rotation reaches the ClusterTrustBundle and the next certificates", func(t *testing.T) {
		prepared := firstAuthorityID(t, d.cli("localauthority", "x509", "prepare"), "Prepared X.509 authority:")
		eventually(t, 30*time.Second, "the prepared CA in the ClusterTrustBundle", func() bool {
			b, err := trust()
			return err == nil && len(b.X509Authorities()) == 2 && hasAuthority(b, prepared)
		})
		d.cli("localauthority", "x509", "activate", "-authorityID", prepared)
		certs := issue(t)
		if got := hex.EncodeToString(certs[0].AuthorityKeyId); got != prepared {
			t.Fatalf("issued by %s after activating %s", got, prepared)
		}
		b, err := trust()
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := x509svid.Verify(certs, b); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("a federated trust domain's bundle is published while the relationship exists", func(t *testing.T) {
		partner, _ := testca.New(t, "partner CA", nil, nil, time.Now().Add(time.Hour))
		path := filepath.Join(d.dir, "partner.pem")
		writeFile(t, path, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: partner.Raw})))
		// The endpoint is never reached: the bundle given is what is stored.
		d.cli("federation", "create", "-trustDomain", "partner.example", "-bundleEndpointURL", "https://127.0.0.1:1/",
			"-bundleEndpointProfile", "https_spiffe", "-endpointSpiffeID", "spiffe://partner.example/spire/server", "-trustDomainBundlePath", path)
		name := clustertrustbundle.Name(podCertSigner, "partner.example")
		eventually(t, 30*time.Second, "the partner's ClusterTrustBundle", func() bool {
			ctb, err := c.Client.CertificatesV1().ClusterTrustBundles().Get(context.Background(), name, metav1.GetOptions{})
			return err == nil && ctb.Labels[clustertrustbundle.LabelTrustDomain] == "partner.example" &&
				ctb.Labels[clustertrustbundle.LabelKind] == "federated" && strings.Contains(ctb.Spec.TrustBundle, "CERTIFICATE")
		})
		d.cli("federation", "delete", "-id", "partner.example")
		eventually(t, 30*time.Second, "the partner's ClusterTrustBundle to go with the relationship", func() bool {
			_, err := c.Client.CertificatesV1().ClusterTrustBundles().Get(context.Background(), name, metav1.GetOptions{})
			return apierrors.IsNotFound(err)
		})
	})
}

// startPodCertSigner starts the server of trust domain pods.example as the pod
// certificate signer of cluster c, authenticated as its ServiceAccount with exactly the
// RBAC of deploy/podcert.yaml; extra is more of its kubernetes_pod_certificates section.
func startPodCertSigner(t *testing.T, c *k8stest.Cluster, extra string) *domain {
	t.Helper()
	c.ApplyFile(t, filepath.Join("..", "deploy", "crds", "identitytemplates.yaml"), false)
	c.WaitForResource(t, k8sreg.GVR)
	c.ApplyFile(t, filepath.Join("..", "deploy", "namespace.yaml"), false)
	c.CreateServiceAccount(t, "lanyard", "lanyard-server")
	c.ApplyFile(t, filepath.Join("..", "deploy", "podcert.yaml"), false)
	kubeconfig := c.ServiceAccountKubeconfig(t, "lanyard", "lanyard-server")
	d := newDomainWith(t, "pods.example", fmt.Sprintf("kubernetes_pod_certificates:\n  kubeconfig_path: %s\n%s", kubeconfig, extra))
	d.startServer()
	return d
}

func hasAuthority(b *x509bundle.Bundle, skiHex string) bool {
	for _, a := range b.X509Authorities() {
		if hex.EncodeToString(a.SubjectKeyId) == skiHex {
			return true
		}
	}
	return false
}

func pemCertificates(t *testing.T, data string) []*x509.Certificate {
	t.Helper()
	var out []*x509.Certificate
	rest := []byte(data)
	for {
		var b *pem.Block
		if b, rest = pem.Decode(rest); b == nil {
			return out
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, c)
	}
}
