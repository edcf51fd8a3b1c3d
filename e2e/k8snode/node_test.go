package k8snode_test

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/lanyard-dev/lanyard/e2e/k8snode"
)

// TestARealNodeRunsPodsAndLeavesNothingBehind: the kubelet registers, runs a
// hostNetwork pod from an image built by e2e/images, answers /pods on its secure port
// only to a bearer token the apiserver vouches for and RBAC allows, and once the test
// ends no process, mount or cgroup of the node is left on the host.
func TestARealNodeRunsPodsAndLeavesNothingBehind(t *testing.T) {
	var base, cgroupRoot string
	t.Run("node", func(t *testing.T) {
		n := k8snode.Start(t)
		base = filepath.Dir(n.HostDir)
		cgroupRoot = "/" + filepath.Base(base)
		n.LoadImages(t, filepath.Join("..", ".."), "workload")
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "idle", Namespace: "default"},
			Spec: corev1.PodSpec{
				HostNetwork: true,
				Containers: []corev1.Container{{
					Name: "idle", Image: k8snode.Image("workload"),
					Args: []string{"hold", "-n", "0"},
				}},
			},
		}
		if _, err := n.Client.CoreV1().Pods("default").Create(t.Context(), pod, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		running := n.WaitPod(t, "default", "idle", 3*time.Minute, k8snode.Running)
		if len(running.Status.ContainerStatuses) != 1 || !strings.HasPrefix(running.Status.ContainerStatuses[0].ContainerID, "containerd://") {
			t.Fatalf("container status: %+v", running.Status.ContainerStatuses)
		}

		url := fmt.Sprintf("https://127.0.0.1:%d/pods", n.KubeletPort)
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(n.CAPEM)
		httpc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
		t.Cleanup(httpc.CloseIdleConnections)
		get := func(token string) (int, string) {
			req, _ := http.NewRequest(http.MethodGet, url, nil)
			if token != "" {
				req.Header.Set("Authorization", "Bearer "+token)
			}
			resp, err := httpc.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			return resp.StatusCode, string(b)
		}
		t.Run("the secure port refuses a request without a token", func(t *testing.T) {
			if code, _ := get(""); code != http.StatusUnauthorized {
				t.Fatalf("answered %d", code)
			}
		})
		t.Run("the secure port lists the pod to the admin, with its containerd ID", func(t *testing.T) {
			code, body := get(n.AdminToken)
			if code != http.StatusOK || !strings.Contains(body, running.Status.ContainerStatuses[0].ContainerID) {
				t.Fatalf("answered %d: %.300s", code, body)
			}
		})
	})
	if t.Failed() || base == "" {
		return
	}
	t.Run("nothing of the node is left on the host", func(t *testing.T) {
		if _, err := os.Stat(base); !os.IsNotExist(err) {
			t.Errorf("%s still exists (%v)", base, err)
		}
		mounts, _ := os.ReadFile("/proc/self/mountinfo")
		if strings.Contains(string(mounts), base) {
			t.Errorf("mounts under %s remain", base)
		}
		for _, h := range []string{"memory", "pids", "cpu", "unified"} {
			if _, err := os.Stat(filepath.Join("/sys/fs/cgroup", h, cgroupRoot)); !os.IsNotExist(err) {
				t.Errorf("cgroup %s remains in %s (%v)", cgroupRoot, h, err)
			}
		}
	})
}
