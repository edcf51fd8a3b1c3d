package k8stest

import (
	"context"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

func ctx(t testing.TB) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

// CreateNamespace creates a namespace and, standing in for the controller-manager
// that does not run here, its "default" ServiceAccount.
func (c *Cluster) CreateNamespace(t testing.TB, name string) *corev1.Namespace {
	t.Helper()
	ns, err := c.Client.CoreV1().Namespaces().Create(ctx(t), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("k8stest: creating namespace %s: %v", name, err)
	}
	c.CreateServiceAccount(t, name, "default")
	return ns
}

// CreateServiceAccount creates ServiceAccount ns/name.
func (c *Cluster) CreateServiceAccount(t testing.TB, ns, name string) *corev1.ServiceAccount {
	t.Helper()
	sa, err := c.Client.CoreV1().ServiceAccounts(ns).Create(ctx(t), &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("k8stest: creating service account %s/%s: %v", ns, name, err)
	}
	return sa
}

// CreateNode creates node and then writes node.Status (addresses, conditions), which a
// kubelet would normally report.
func (c *Cluster) CreateNode(t testing.TB, node *corev1.Node) *corev1.Node {
	t.Helper()
	nodes := c.Client.CoreV1().Nodes()
	created, err := nodes.Create(ctx(t), node, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("k8stest: creating node %s: %v", node.Name, err)
	}
	created.Status = node.Status
	updated, err := nodes.UpdateStatus(ctx(t), created, metav1.UpdateOptions{})
	if err != nil {
		t.Fatalf("k8stest: setting status of node %s: %v", node.Name, err)
	}
	return updated
}

// CreatePod creates pod, which must name its node in Spec.NodeName (nothing schedules
// here) and a ServiceAccount that exists, then writes pod.Status as a kubelet would
// (HostIP, PodIP, phase, container statuses). HostIPs/PodIPs default from HostIP/PodIP.
func (c *Cluster) CreatePod(t testing.TB, pod *corev1.Pod) *corev1.Pod {
	t.Helper()
	if pod.Spec.NodeName == "" {
		t.Fatalf("k8stest: pod %s/%s needs spec.nodeName: no scheduler runs", pod.Namespace, pod.Name)
	}
	pods := c.Client.CoreV1().Pods(pod.Namespace)
	created, err := pods.Create(ctx(t), pod, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("k8stest: creating pod %s/%s: %v", pod.Namespace, pod.Name, err)
	}
	st := pod.Status
	if st.HostIP != "" && len(st.HostIPs) == 0 {
		st.HostIPs = []corev1.HostIP{{IP: st.HostIP}}
	}
	if st.PodIP != "" && len(st.PodIPs) == 0 {
		st.PodIPs = []corev1.PodIP{{IP: st.PodIP}}
	}
	created.Status = st
	updated, err := pods.UpdateStatus(ctx(t), created, metav1.UpdateOptions{})
	if err != nil {
		t.Fatalf("k8stest: setting status of pod %s/%s: %v", pod.Namespace, pod.Name, err)
	}
	return updated
}

// DeletePod deletes a pod at once. Without a kubelet to confirm a graceful shutdown, a
// pod on a node would otherwise stay in Terminating forever.
func (c *Cluster) DeletePod(t testing.TB, ns, name string) {
	t.Helper()
	zero := int64(0)
	if err := c.Client.CoreV1().Pods(ns).Delete(ctx(t), name, metav1.DeleteOptions{GracePeriodSeconds: &zero}); err != nil {
		t.Fatalf("k8stest: deleting pod %s/%s: %v", ns, name, err)
	}
}

// PodToken requests a projected service account token for ServiceAccount ns/sa, bound
// to pod podName/podUID, for audience, like the kubelet does for a projected volume.
// The apiserver refuses a ttl under 10 minutes.
func (c *Cluster) PodToken(t testing.TB, ns, sa, podName string, podUID types.UID, audience string, ttl time.Duration) string {
	t.Helper()
	secs := int64(ttl / time.Second)
	req := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{
		Audiences:         []string{audience},
		ExpirationSeconds: &secs,
		BoundObjectRef:    &authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: podName, UID: podUID},
	}}
	resp, err := c.Client.CoreV1().ServiceAccounts(ns).CreateToken(ctx(t), sa, req, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("k8stest: token for %s/%s bound to pod %s: %v", ns, sa, podName, err)
	}
	return resp.Status.Token
}
