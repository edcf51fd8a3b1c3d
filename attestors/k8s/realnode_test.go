package k8s

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/lanyard-dev/lanyard/e2e/k8snode"
	"github.com/lanyard-dev/lanyard/internal/poll"
)

// TestAttestorAgainstARealKubelet attests the processes of real containers, started by
// a real kubelet through containerd and runc, by asking that kubelet's secure port with
// a service account token (webhook authentication and authorization) and verifying its
// certificate against the cluster CA, the one a pod finds in its service account's
// ca.crt. The selectors are what the kubelet really reports: the image as the pod spec
// names it and containerd's image ID, the ReplicaSet owner set by the real controller.
func TestAttestorAgainstARealKubelet(t *testing.T) {
	n := k8snode.Start(t)
	n.LoadImages(t, filepath.Join("..", ".."), "workload")
	cs := n.Client
	for _, ns := range []string{"spire", "shop"} {
		_, err := cs.CoreV1().Namespaces().Create(t.Context(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
		must(t, err)
	}
	for _, sa := range []struct{ ns, name string }{{"spire", "spire-agent"}, {"shop", "web"}} {
		_, err := cs.CoreV1().ServiceAccounts(sa.ns).Create(t.Context(), &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: sa.name}}, metav1.CreateOptions{})
		must(t, err)
	}
	// What deploy/agent.yaml grants the agent: the kubelet authorizes /pods as nodes/proxy.
	_, err := cs.RbacV1().ClusterRoles().Create(t.Context(), &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: "kubelet-reader"},
		Rules:      []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"nodes/proxy"}, Verbs: []string{"get"}}},
	}, metav1.CreateOptions{})
	must(t, err)
	_, err = cs.RbacV1().ClusterRoleBindings().Create(t.Context(), &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "kubelet-reader"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "kubelet-reader"},
		Subjects:   []rbacv1.Subject{{Kind: "ServiceAccount", Namespace: "spire", Name: "spire-agent"}},
	}, metav1.CreateOptions{})
	must(t, err)
	tok, err := cs.CoreV1().ServiceAccounts("spire").CreateToken(t.Context(), "spire-agent", &authenticationv1.TokenRequest{}, metav1.CreateOptions{})
	must(t, err)
	dir := t.TempDir()
	tokenPath := filepath.Join(dir, "token")
	must(t, os.WriteFile(tokenPath, []byte(tok.Status.Token), 0o600))
	// A token of a service account without nodes/proxy: authenticated, not authorized.
	_, err = cs.CoreV1().ServiceAccounts("shop").Create(t.Context(), &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "nosy"}}, metav1.CreateOptions{})
	must(t, err)
	nosy, err := cs.CoreV1().ServiceAccounts("shop").CreateToken(t.Context(), "nosy", &authenticationv1.TokenRequest{}, metav1.CreateOptions{})
	must(t, err)
	nosyPath := filepath.Join(dir, "nosy")
	must(t, os.WriteFile(nosyPath, []byte(nosy.Status.Token), 0o600))

	image := k8snode.Image("workload")
	hold := []string{"hold", "-n", "0"}
	one := int32(1)
	_, err = cs.AppsV1().ReplicaSets("shop").Create(t.Context(), &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: appsv1.ReplicaSetSpec{
			Replicas: &one,
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
				Spec: corev1.PodSpec{
					ServiceAccountName: "web",
					HostNetwork:        true,
					Containers:         []corev1.Container{{Name: "web", Image: image, Args: hold}, {Name: "sidecar", Image: image, Args: hold}},
				},
			},
		},
	}, metav1.CreateOptions{})
	must(t, err)
	var podName string
	poll.Until(t, 2*time.Minute, "the ReplicaSet's pod", func() bool {
		l, err := cs.CoreV1().Pods("shop").List(t.Context(), metav1.ListOptions{LabelSelector: "app=web"})
		if err == nil && len(l.Items) == 1 {
			podName = l.Items[0].Name
		}
		return podName != ""
	})
	pod := n.WaitPod(t, "shop", podName, 3*time.Minute, k8snode.Running)
	rs := pod.OwnerReferences[0]
	statuses := map[string]corev1.ContainerStatus{}
	for _, s := range pod.Status.ContainerStatuses {
		statuses[s.Name] = s
	}
	web := statuses["web"]
	common := []string{
		"k8s:ns:shop",
		"k8s:sa:web",
		"k8s:node-name:" + n.Name,
		"k8s:pod-uid:" + string(pod.UID),
		"k8s:pod-name:" + podName,
		"k8s:pod-label:app:web",
		"k8s:pod-owner:ReplicaSet:" + rs.Name,
		"k8s:pod-owner-uid:ReplicaSet:" + string(rs.UID),
		"k8s:pod-image:" + web.Image,
		"k8s:pod-image:" + web.ImageID,
		"k8s:pod-image-count:2",
		"k8s:pod-init-image-count:0",
	}
	t.Logf("the kubelet reports image %q, image ID %q, container ID %q", web.Image, web.ImageID, web.ContainerID)

	newAttestor := func(t *testing.T, token string) *Attestor {
		a, err := New(Config{KubeletHost: "127.0.0.1", SecurePort: n.KubeletPort, KubeletCAPath: n.CAFile, TokenPath: token})
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	for _, name := range []string{"web", "sidecar"} {
		t.Run("the "+name+" container's process gets its pod's and its container's selectors", func(t *testing.T) {
			s := statuses[name]
			got, err := newAttestor(t, tokenPath).Attest(t.Context(), n.ContainerPID(t, s.ContainerID))
			assertSelectors(t, got, err, append([]string{
				"k8s:container-name:" + name, "k8s:container-image:" + s.Image, "k8s:container-image:" + s.ImageID,
			}, common...))
		})
	}
	t.Run("a token without nodes/proxy is refused by the kubelet", func(t *testing.T) {
		_, err := newAttestor(t, nosyPath).Attest(t.Context(), n.ContainerPID(t, web.ContainerID))
		if err == nil || !strings.Contains(err.Error(), "403 Forbidden") {
			t.Fatalf("error = %v, want the kubelet's 403", err)
		}
	})
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
