package e2e

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/bundle/x509bundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"
	certsv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/lanyard-dev/lanyard/e2e/k8snode"
	"github.com/lanyard-dev/lanyard/internal/freeport"
	"github.com/lanyard-dev/lanyard/internal/poll"
	"github.com/lanyard-dev/lanyard/server/clustertrustbundle"
)

// TestPodCertificatesOnARealNode runs lanyard-server as the pod certificate signer beside
// a real one-node cluster (authenticated as its ServiceAccount with exactly the RBAC of
// deploy/podcert.yaml): the real kubelet, as system:node:<name> through the Node
// authorizer and NodeRestriction, asks for the certificates of pods with podCertificate
// and clusterTrustBundle projections and writes their files; two pods do go-spiffe mTLS
// with nothing but those files; and, with LANYARD_LONG_TESTS set, the kubelet renews at
// beginRefreshAt and the running pod sees a new certificate in its file.
func TestPodCertificatesOnARealNode(t *testing.T) {
	requireRoot(t)
	n := k8snode.Start(t)
	n.LoadImages(t, "..", "workload")
	c := n.Cluster
	// refresh_after: 10m, the apiserver's earliest beginRefreshAt, keeps the renewal
	// check under 20 minutes rather than past half an hour.
	d := startPodCertSigner(t, c, "  refresh_after: 10m\n")
	// Not c.CreateNamespace: the node's controller-manager makes the "default" account.
	if _, err := c.Client.CoreV1().Namespaces().Create(t.Context(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "mesh"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, sa := range []string{"server", "client"} {
		c.CreateServiceAccount(t, "mesh", sa)
	}
	addr := "127.0.0.1:" + strconv.Itoa(freeport.Loopback(t))
	serverID, clientID := d.id("ns/mesh/sa/server"), d.id("ns/mesh/sa/client")
	podCertPod(t, n, "server", "ECDSAP256", corev1.RestartPolicyAlways, "serve-files", "-addr", addr, "-allow", clientID)

	var firstSerial string
	t.Run("the kubelet writes the pod's key and X.509-SVID chain and the trust bundle", func(t *testing.T) {
		n.WaitPod(t, "mesh", "server", 3*time.Minute, k8snode.Running)
		poll.Until(t, time.Minute, "the mTLS server to listen with the files", func() bool {
			return strings.Contains(n.ContainerLog(t, "mesh", "server", "workload"), "listening on")
		})
		log := n.ContainerLog(t, "mesh", "server", "workload")
		serials := svidSerials(log, serverID)
		if len(serials) != 1 {
			t.Fatalf("the server pod loaded %d certificates of %s, want 1:\n%s", len(serials), serverID, log)
		}
		firstSerial = serials[0]
		// The kubelet's layout: the PKCS#8 key first, then the chain, leaf first.
		if !strings.Contains(log, "blocks PRIVATE KEY,CERTIFICATE") {
			t.Errorf("credential bundle layout:\n%s", log)
		}
		pcr := issuedRequest(t, n, "server", firstSerial)
		ctb, err := c.Client.CertificatesV1().ClusterTrustBundles().Get(t.Context(), clustertrustbundle.Name(podCertSigner, d.td), metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		b, err := x509bundle.Parse(spiffeid.RequireTrustDomainFromString(d.td), []byte(ctb.Spec.TrustBundle))
		if err != nil {
			t.Fatal(err)
		}
		id, _, err := x509svid.Verify(pemCertificates(t, pcr.Status.CertificateChain), b)
		if err != nil || id.String() != serverID {
			t.Fatalf("the issued chain verified as %s, %v; want %s", id, err, serverID)
		}
		if got := pcr.Status.BeginRefreshAt.Sub(pcr.Status.NotBefore.Time); got != 10*time.Minute {
			t.Errorf("beginRefreshAt notBefore+%s, want refresh_after 10m", got)
		}
	})

	t.Run("two pods (ECDSA P-256 and RSA 3072 keys) do go-spiffe mTLS with only the files", func(t *testing.T) {
		// OnFailure: the kubelet starts the client again until its files are there and the
		// server accepts it.
		podCertPod(t, n, "client", "RSA3072", corev1.RestartPolicyOnFailure,
			"dial-files", "-addr", addr, "-expect", serverID, "-message", "hello from the files")
		n.WaitPod(t, "mesh", "client", 4*time.Minute, k8snode.Succeeded)
		want := "request from " + clientID + ": hello from the files"
		poll.Until(t, 30*time.Second, "the server to log the client's request", func() bool {
			return strings.Contains(n.ContainerLog(t, "mesh", "server", "workload"), want)
		})
		if log := n.ContainerLog(t, "mesh", "client", "workload"); !strings.Contains(log, "reply: hello "+clientID) {
			t.Errorf("the client's log:\n%s", log)
		}
	})

	t.Run("a pod asking for an Ed25519 key is denied and does not start", func(t *testing.T) {
		podCertPod(t, n, "client-ed25519", "ED25519", corev1.RestartPolicyNever, "dial-files", "-addr", addr, "-expect", serverID)
		var events string
		poll.Until(t, time.Minute, "the kubelet to report the denial on the pod", func() bool {
			l, err := c.Client.CoreV1().Events("mesh").List(t.Context(), metav1.ListOptions{FieldSelector: "involvedObject.name=client-ed25519"})
			if err != nil {
				t.Fatal(err)
			}
			events = ""
			for _, e := range l.Items {
				events += e.Reason + ": " + e.Message + "\n"
			}
			return strings.Contains(events, "UnsupportedKeyType")
		})
		pod, err := c.Client.CoreV1().Pods("mesh").Get(t.Context(), "client-ed25519", metav1.GetOptions{})
		if err != nil || pod.Status.Phase != corev1.PodPending {
			t.Fatalf("pod %v, %v; want it Pending without its files", pod.Status.Phase, err)
		}
		t.Logf("the kubelet's events:\n%s", events)
	})

	t.Run("the kubelet renews at beginRefreshAt and the pod sees the new certificate", func(t *testing.T) {
		if os.Getenv("LANYARD_LONG_TESTS") == "" {
			t.Skip("set LANYARD_LONG_TESTS=1: the apiserver puts beginRefreshAt 10m or more after notBefore and the kubelet adds up to 7m")
		}
		if firstSerial == "" {
			t.Skip("no first certificate")
		}
		var serials []string
		poll.Until(t, 20*time.Minute, "the server pod to load a renewed certificate", func() bool {
			serials = svidSerials(n.ContainerLog(t, "mesh", "server", "workload"), serverID)
			return len(serials) > 1
		})
		if serials[0] != firstSerial || serials[1] == firstSerial {
			t.Fatalf("serials %v after %s", serials, firstSerial)
		}
		issuedRequest(t, n, "server", serials[1])
		// The renewed files still do mTLS: a second client dials the same server.
		podCertPod(t, n, "client-2", "ECDSAP384", corev1.RestartPolicyOnFailure,
			"dial-files", "-addr", addr, "-expect", serverID, "-message", "hello after renewal")
		n.WaitPod(t, "mesh", "client-2", 4*time.Minute, k8snode.Succeeded)
	})
}

// podCertPod runs the e2e workload with args in a pod of namespace mesh whose service
// account is name up to a dash (client-2 is client's), with its identity only in files:
// a podCertificate projection (keyType, key and chain in svid.pem) and the trust
// domain's ClusterTrustBundle in bundle.pem, as deploy/pod-certificate-example.yaml.
func podCertPod(t *testing.T, n *k8snode.Node, name, keyType string, restart corev1.RestartPolicy, args ...string) {
	t.Helper()
	sa, _, _ := strings.Cut(name, "-")
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "mesh"},
		Spec: corev1.PodSpec{
			ServiceAccountName: sa, HostNetwork: true, RestartPolicy: restart,
			Containers: []corev1.Container{{
				Name: "workload", Image: k8snode.Image("workload"), Args: args,
				VolumeMounts: []corev1.VolumeMount{{Name: "spiffe", MountPath: "/var/run/spiffe", ReadOnly: true}},
			}},
			Volumes: []corev1.Volume{{Name: "spiffe", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
				Sources: []corev1.VolumeProjection{
					{PodCertificate: &corev1.PodCertificateProjection{
						SignerName: podCertSigner, KeyType: keyType, CredentialBundlePath: "svid.pem",
					}},
					{ClusterTrustBundle: &corev1.ClusterTrustBundleProjection{
						SignerName: ptr.To(podCertSigner), Path: "bundle.pem",
						LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{clustertrustbundle.LabelKind: "own"}},
					}},
				},
			}}}},
		},
	}
	if _, err := n.Client.CoreV1().Pods("mesh").Create(t.Context(), pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// issuedRequest finds the kubelet's Issued PodCertificateRequest for pod mesh/name whose
// leaf has the serial (hex) a pod printed.
func issuedRequest(t *testing.T, n *k8snode.Node, pod, serial string) *certsv1.PodCertificateRequest {
	t.Helper()
	l, err := n.Client.CertificatesV1().PodCertificateRequests("mesh").List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range l.Items {
		pcr := &l.Items[i]
		if pcr.Spec.PodName != pod || pcr.Status.CertificateChain == "" {
			continue
		}
		if fmt.Sprintf("%x", pemCertificates(t, pcr.Status.CertificateChain)[0].SerialNumber) == serial {
			return pcr
		}
	}
	t.Fatalf("no Issued PodCertificateRequest of pod %s has the certificate with serial %s (%d requests)", pod, serial, len(l.Items))
	return nil
}

// svidSerials are the serials the workload printed as "svid <id> serial <hex>", in order.
func svidSerials(log, id string) []string {
	var out []string
	for _, m := range regexp.MustCompile(`svid `+regexp.QuoteMeta(id)+` serial ([0-9a-f]+)`).FindAllStringSubmatch(log, -1) {
		out = append(out, m[1])
	}
	return out
}
