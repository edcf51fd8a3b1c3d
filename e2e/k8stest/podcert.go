package k8stest

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"testing"
	"time"

	certsv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	"github.com/lanyard-dev/lanyard/internal/poll"
)

// PodCertificateVolume is a projected volume asking signer for a key of keyType and its
// certificate chain in credentialbundle.pem, as a pod spec would.
func PodCertificateVolume(signer, keyType string) corev1.Volume {
	return corev1.Volume{Name: "svid", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
		Sources: []corev1.VolumeProjection{{PodCertificate: &corev1.PodCertificateProjection{
			SignerName: signer, KeyType: keyType, CredentialBundlePath: "credentialbundle.pem",
		}}},
	}}}
}

// PodCertificateRequest is the request a kubelet makes for pod (already created, on a
// node that exists): the pod's, node's and service account's names and UIDs, a stub
// PKCS#10 request signed by key, and maxExpirationSeconds of a day.
func (c *Cluster) PodCertificateRequest(t testing.TB, pod *corev1.Pod, signer string, key crypto.Signer) *certsv1.PodCertificateRequest {
	t.Helper()
	node, err := c.Client.CoreV1().Nodes().Get(ctx(t), pod.Spec.NodeName, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("k8stest: node of pod %s/%s: %v", pod.Namespace, pod.Name, err)
	}
	sa, err := c.Client.CoreV1().ServiceAccounts(pod.Namespace).Get(ctx(t), pod.Spec.ServiceAccountName, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("k8stest: service account of pod %s/%s: %v", pod.Namespace, pod.Name, err)
	}
	csr, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{}, key)
	if err != nil {
		t.Fatalf("k8stest: stub CSR: %v", err)
	}
	day := int32(86400)
	return &certsv1.PodCertificateRequest{
		ObjectMeta: metav1.ObjectMeta{Namespace: pod.Namespace, GenerateName: pod.Name + "-"},
		Spec: certsv1.PodCertificateRequestSpec{
			SignerName: signer, PodName: pod.Name, PodUID: pod.UID,
			ServiceAccountName: sa.Name, ServiceAccountUID: sa.UID,
			NodeName: nodeName(node), NodeUID: node.UID,
			MaxExpirationSeconds: &day, StubPKCS10Request: csr,
		},
	}
}

func nodeName(n *corev1.Node) types.NodeName { return types.NodeName(n.Name) }

// CreatePodCertificateRequest creates pcr with client (a NodeClient for the kubelet's
// view). NodeRestriction answers with a retryable error while its caches have not seen
// a new pod or node yet; with retry set those are retried for up to 30 s. The error is
// the apiserver's last answer.
func CreatePodCertificateRequest(t testing.TB, client kubernetes.Interface, pcr *certsv1.PodCertificateRequest, retry bool) (out *certsv1.PodCertificateRequest, err error) {
	t.Helper()
	poll.Until(t, 30*time.Second, "PodCertificateRequest admission for pod "+pcr.Namespace+"/"+pcr.Spec.PodName, func() bool {
		out, err = client.CertificatesV1().PodCertificateRequests(pcr.Namespace).Create(ctx(t), pcr, metav1.CreateOptions{})
		return err == nil || !retry || apierrors.IsForbidden(err) || apierrors.IsInvalid(err)
	})
	return out, err
}

// AwaitPodCertificateAnswer polls until the request carries Issued, Denied or Failed and
// returns it with that condition.
func (c *Cluster) AwaitPodCertificateAnswer(t testing.TB, ns, name string, within time.Duration) (pcr *certsv1.PodCertificateRequest, answer metav1.Condition) {
	t.Helper()
	poll.Until(t, within, "an answer to PodCertificateRequest "+ns+"/"+name, func() bool {
		var err error
		if pcr, err = c.Client.CertificatesV1().PodCertificateRequests(ns).Get(context.Background(), name, metav1.GetOptions{}); err != nil {
			t.Fatalf("k8stest: reading PodCertificateRequest %s/%s: %v", ns, name, err)
		}
		for _, cond := range pcr.Status.Conditions {
			switch cond.Type {
			case certsv1.PodCertificateRequestConditionTypeIssued, certsv1.PodCertificateRequestConditionTypeDenied,
				certsv1.PodCertificateRequestConditionTypeFailed:
				answer = cond
				return true
			}
		}
		return false
	})
	return pcr, answer
}
