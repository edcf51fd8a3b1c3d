package k8stest

import (
	"context"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

// TestCluster checks what attestor tests rely on: the kubeconfig on disk works, pods
// keep the status written for them, and a pod-bound token passes TokenReview with the
// pod named in user.extra.
func TestCluster(t *testing.T) {
	c := Start(t)
	ctx := context.Background()

	cfg, err := clientcmd.BuildConfigFromFlags("", c.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	kc, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kc.CoreV1().Namespaces().Get(ctx, "default", metav1.GetOptions{}); err != nil {
		t.Fatalf("kubeconfig client cannot read namespace default: %v", err)
	}

	c.CreateNamespace(t, "agents")
	c.CreateServiceAccount(t, "agents", "agent")
	node := c.CreateNode(t, &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: "node-a"},
		Status:     corev1.NodeStatus{Addresses: []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "192.0.2.10"}}},
	})
	if len(node.Status.Addresses) != 1 {
		t.Fatalf("node status not kept: %+v", node.Status)
	}
	pod := c.CreatePod(t, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "agents", Name: "agent-1"},
		Spec: corev1.PodSpec{
			NodeName:           "node-a",
			ServiceAccountName: "agent",
			Containers:         []corev1.Container{{Name: "agent", Image: "example.org/agent:1"}},
		},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, HostIP: "192.0.2.10", PodIP: "192.0.2.10"},
	})
	if pod.Status.HostIP != "192.0.2.10" || pod.Status.Phase != corev1.PodRunning {
		t.Fatalf("pod status not kept: %+v", pod.Status)
	}

	token := c.PodToken(t, "agents", "agent", pod.Name, pod.UID, "spire-server", time.Hour)
	tr, err := c.Client.AuthenticationV1().TokenReviews().Create(ctx, &authenticationv1.TokenReview{
		Spec: authenticationv1.TokenReviewSpec{Token: token, Audiences: []string{"spire-server"}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	st := tr.Status
	if !st.Authenticated || st.User.Username != "system:serviceaccount:agents:agent" {
		t.Fatalf("token review: %+v", st)
	}
	if got := st.User.Extra["authentication.kubernetes.io/pod-uid"]; len(got) != 1 || got[0] != string(pod.UID) {
		t.Fatalf("pod-uid extra = %v, want %s", got, pod.UID)
	}
}
