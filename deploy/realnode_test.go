package deploy

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/lanyard-dev/lanyard/e2e/k8snode"
	"github.com/lanyard-dev/lanyard/internal/freeport"
	"github.com/lanyard-dev/lanyard/internal/poll"
	"github.com/lanyard-dev/lanyard/server/k8sreg"
)

// serverUID is the user the server's StatefulSet runs as (securityContext.runAsUser).
const serverUID = 10001

// TestDeployRunsOnARealNode installs deploy/ on a real one-node cluster, once from the
// raw manifests and once from the Helm chart (rendered by a real helm): the server
// StatefulSet and the agent DaemonSet run as pods from the project's own images, the
// agent attests with k8s_psat using its projected token, workload pods mounting the
// agent's socket get SVIDs through the k8s workload attestor asking the real kubelet's
// secure port, two of them do go-spiffe mTLS, and a deleted pod's identity leaves the
// agent.
func TestDeployRunsOnARealNode(t *testing.T) {
	t.Run("raw manifests", func(t *testing.T) {
		installOnARealNode(t, func(t *testing.T) []byte {
			var all []byte
			for _, f := range []string{"crds/identitytemplates.yaml", "server.yaml", "agent.yaml"} {
				b, err := os.ReadFile(f)
				must(t, err)
				all = append(append(all, b...), "\n---\n"...)
			}
			return all
		})
	})
	t.Run("helm chart", func(t *testing.T) {
		helm := helmBin(t)
		installOnARealNode(t, func(t *testing.T) []byte { return helmTemplate(t, helm) })
	})
}

// installOnARealNode installs the manifests render returns (the CRD, the server and
// the agent) and checks what TestDeployRunsOnARealNode describes.
func installOnARealNode(t *testing.T, render func(*testing.T) []byte) {
	n := k8snode.Start(t)
	n.LoadImages(t, "..", "lanyard-server", "lanyard-agent", "workload")
	apiURL, _ := url.Parse(n.URL)
	apiPort, _ := strconv.Atoi(apiURL.Port())
	tn := testNode{
		apiPort: apiPort, kubeletPort: n.KubeletPort,
		serverPort: freeport.Loopback(t), serverHealth: freeport.Loopback(t), agentHealth: freeport.Loopback(t),
		socketsDir: filepath.Join(n.HostDir, "sockets"), agentDataDir: filepath.Join(n.HostDir, "agent"), imageTag: k8snode.ImageTag,
	}
	serverData := filepath.Join(n.HostDir, "server-data")
	must(t, os.MkdirAll(serverData, 0o700))
	must(t, os.Chown(serverData, serverUID, serverUID))
	// The server's volumeClaimTemplate needs a volume; no provisioner runs here.
	_, err := n.Client.CoreV1().PersistentVolumes().Create(t.Context(), &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: "lanyard-server-data"},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:               corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")},
			AccessModes:            []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			PersistentVolumeSource: corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: serverData}},
		},
	}, metav1.CreateOptions{})
	must(t, err)

	n.ApplyFile(t, "namespace.yaml", false)
	if _, err := n.Apply(t, adapt(t, render(t), tn), false); err != nil {
		t.Fatal(err)
	}
	n.WaitForResource(t, k8sreg.GVR)
	n.WaitPod(t, "lanyard", "lanyard-server-0", 4*time.Minute, k8snode.Running)
	agentPod := waitDaemonPod(t, n, "lanyard", "app.kubernetes.io/name=lanyard-agent")
	n.WaitPod(t, "lanyard", agentPod, 3*time.Minute, k8snode.Running)

	if _, err := n.Apply(t, []byte(`apiVersion: lanyard.dev/v1alpha1
kind: IdentityTemplate
metadata: {name: mesh}
spec:
  spiffeIDTemplate: "spiffe://{{ .TrustDomain }}/ns/{{ .PodMeta.Namespace }}/sa/{{ .PodSpec.ServiceAccountName }}"
  namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: mesh}}
`), false); err != nil {
		t.Fatal(err)
	}
	_, err = n.Client.CoreV1().Namespaces().Create(t.Context(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "mesh"}}, metav1.CreateOptions{})
	must(t, err)
	for _, sa := range []string{"server", "client", "doomed"} {
		_, err := n.Client.CoreV1().ServiceAccounts("mesh").Create(t.Context(), &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: sa}}, metav1.CreateOptions{})
		must(t, err)
	}
	mtlsAddr := "127.0.0.1:" + strconv.Itoa(freeport.Loopback(t))
	createWorkload(t, n, tn, "server", corev1.RestartPolicyAlways,
		"serve", "-addr", mtlsAddr, "-allow", "spiffe://example.org/ns/mesh/sa/client")

	t.Run("a workload pod gets its SVID from the agent through the real kubelet", func(t *testing.T) {
		n.WaitPod(t, "mesh", "server", 3*time.Minute, k8snode.Running)
		poll.Until(t, 3*time.Minute, "the mTLS server to listen with its SVID", func() bool {
			return strings.Contains(n.ContainerLog(t, "mesh", "server", "workload"), "listening on")
		})
	})
	t.Run("two workload pods do go-spiffe mTLS with their SVIDs", func(t *testing.T) {
		// OnFailure: the kubelet starts the client again until the server accepts it.
		createWorkload(t, n, tn, "client", corev1.RestartPolicyOnFailure,
			"dial", "-addr", mtlsAddr, "-expect", "spiffe://example.org/ns/mesh/sa/server", "-message", "hello from a pod")
		n.WaitPod(t, "mesh", "client", 4*time.Minute, k8snode.Succeeded)
		poll.Until(t, 30*time.Second, "the server to log the client's request", func() bool {
			return strings.Contains(n.ContainerLog(t, "mesh", "server", "workload"),
				"request from spiffe://example.org/ns/mesh/sa/client: hello from a pod")
		})
	})
	t.Run("a deleted pod's identity leaves the agent", func(t *testing.T) {
		// The server keeps entries for running pods only: the client has completed, so
		// the mTLS server's entry is the agent's one entry.
		entries := func(want int, what string) {
			t.Helper()
			poll.Until(t, 2*time.Minute, what, func() bool { return agentEntries(t, tn) == want })
		}
		entries(1, "the agent to hold only the mTLS server's entry")
		createWorkload(t, n, tn, "doomed", corev1.RestartPolicyAlways, "watch")
		n.WaitPod(t, "mesh", "doomed", 3*time.Minute, k8snode.Running)
		poll.Until(t, 2*time.Minute, "the doomed pod's SVID", func() bool {
			return strings.Contains(n.ContainerLog(t, "mesh", "doomed", "workload"), "spiffe://example.org/ns/mesh/sa/doomed")
		})
		entries(2, "the agent to hold the doomed pod's entry too")
		must(t, n.Client.CoreV1().Pods("mesh").Delete(t.Context(), "doomed", metav1.DeleteOptions{}))
		entries(1, "the agent to drop the doomed pod's entry")
	})
}

// createWorkload runs the e2e workload in a pod of namespace mesh with service
// account sa, mounting the agent's socket folder from the host.
func createWorkload(t *testing.T, n *k8snode.Node, tn testNode, sa string, restart corev1.RestartPolicy, args ...string) {
	t.Helper()
	hostDir := corev1.HostPathDirectory
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: sa, Namespace: "mesh"},
		Spec: corev1.PodSpec{
			ServiceAccountName: sa,
			HostNetwork:        true,
			RestartPolicy:      restart,
			Containers: []corev1.Container{{
				Name: "workload", Image: k8snode.Image("workload"), Args: args,
				Env:          []corev1.EnvVar{{Name: "SPIFFE_ENDPOINT_SOCKET", Value: "unix:///run/lanyard/sockets/api.sock"}},
				VolumeMounts: []corev1.VolumeMount{{Name: "sockets", MountPath: "/run/lanyard/sockets", ReadOnly: true}},
			}},
			Volumes: []corev1.Volume{{Name: "sockets", VolumeSource: corev1.VolumeSource{
				HostPath: &corev1.HostPathVolumeSource{Path: tn.socketsDir, Type: &hostDir},
			}}},
		},
	}
	if _, err := n.Client.CoreV1().Pods("mesh").Create(t.Context(), pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// waitDaemonPod waits for the DaemonSet controller to create the node's pod.
func waitDaemonPod(t *testing.T, n *k8snode.Node, ns, selector string) string {
	t.Helper()
	var name string
	poll.Until(t, 2*time.Minute, "the DaemonSet's pod", func() bool {
		l, err := n.Client.CoreV1().Pods(ns).List(t.Context(), metav1.ListOptions{LabelSelector: selector})
		if err != nil || len(l.Items) == 0 {
			return false
		}
		name = l.Items[0].Name
		return true
	})
	return name
}

// agentEntries reads the agent's lanyard_agent_entries gauge from its health port.
func agentEntries(t *testing.T, tn testNode) int {
	t.Helper()
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", tn.agentHealth))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(io.LimitReader(resp.Body, 1<<20))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "lanyard_agent_entries "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatal(err)
			}
			return int(f)
		}
	}
	t.Fatal("the agent's /metrics has no lanyard_agent_entries")
	return 0
}
