package k8snode

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/lanyard-dev/lanyard/e2e/images"
	"github.com/lanyard-dev/lanyard/e2e/k8stest"
	"github.com/lanyard-dev/lanyard/internal/freeport"
)

// Name is the node's name. The kubelet serves on 127.0.0.1 but registers the host's
// own address (it refuses a loopback node IP), which hostNetwork pods get as pod IP.
const Name = "lanyard-node"

// Node is a running one-node cluster owned by one test.
type Node struct {
	*k8stest.Cluster
	// Name is the Node object's name.
	Name string
	// KubeletPort is the kubelet's secure (authenticated HTTPS) port on 127.0.0.1.
	KubeletPort int
	// HostDir is a folder on the host for hostPath volumes; removed at the end.
	HostDir string

	bin       string
	dirs      dirs
	nodeToken string
}

// dirs are the node's files. They live under a short /tmp folder rather than
// t.TempDir(): unix socket paths must stay under 108 bytes.
type dirs struct {
	base, containerdRoot, containerdState, containerdSock, opt, cniBin, cniConf string
	kubeletRoot, podLogs, servingCert, servingKey, host                         string
}

// Start runs the cluster and its node and waits until the node is Ready and the
// "default" ServiceAccount exists (the controller-manager works). Like k8stest.Start it
// skips t when a binary is missing unless LANYARD_REQUIRE_K8S is set; it also needs
// root. Start one node per top-level test: it costs tens of seconds.
func Start(t testing.TB) *Node {
	t.Helper()
	bin := k8stest.BinDir(t, "etcd", "kube-apiserver", "kubelet", "kube-controller-manager", "kube-scheduler", "containerd", "ctr", "runc")
	if os.Geteuid() != 0 {
		msg := "k8snode: a real node needs root (containerd, runc, cgroups, mounts)"
		if os.Getenv("LANYARD_REQUIRE_K8S") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	base, err := os.MkdirTemp("", "k8snode-")
	if err != nil {
		t.Fatalf("k8snode: %v", err)
	}
	d := layout(base)
	cgroupRoot := "/" + filepath.Base(base)
	// Registered first, so it runs last: after every process below has stopped.
	t.Cleanup(func() { cleanupHost(t, d, cgroupRoot) })
	for _, p := range []string{d.containerdRoot, d.containerdState, d.opt, d.cniBin, d.cniConf, d.kubeletRoot, d.podLogs, d.host} {
		if err := os.MkdirAll(p, 0o755); err != nil {
			t.Fatalf("k8snode: %v", err)
		}
	}
	makeCgroupRoot(t, cgroupRoot)

	nodeToken := randomHex(t)
	c := k8stest.StartWith(t, k8stest.Options{
		Tokens: []string{nodeToken + ",system:node:" + Name + ",node-" + Name + ",system:nodes"},
	})
	n := &Node{Cluster: c, Name: Name, HostDir: d.host, bin: bin, dirs: d, nodeToken: nodeToken}
	n.bindNodeRole(t)
	writeServingCert(t, c, d, Name)

	writeFile(t, filepath.Join(d.cniConf, "10-hostnetwork-only.conflist"), cniConfig)
	cfgPath := filepath.Join(base, "containerd.toml")
	writeFile(t, cfgPath, containerdConfig(d))
	ctrd := k8stest.StartProcess(t, base, "containerd", filepath.Join(bin, "containerd"), "--config", cfgPath)
	ctrd.WaitReady(t, 60*time.Second, func() error {
		_, err := n.ctr("version")
		return err
	})
	// Runs before containerd stops (cleanups are last in, first out) and after the
	// kubelet has: no one restarts the containers it kills.
	t.Cleanup(func() { n.removeContainers(t) })

	n.startControllers(t)
	holdSysctls(t)
	n.startKubelet(t)
	return n
}

func layout(base string) dirs {
	return dirs{
		base:            base,
		containerdRoot:  filepath.Join(base, "containerd"),
		containerdState: filepath.Join(base, "containerd-state"),
		containerdSock:  filepath.Join(base, "containerd.sock"),
		opt:             filepath.Join(base, "opt"),
		cniBin:          filepath.Join(base, "cni", "bin"),
		cniConf:         filepath.Join(base, "cni", "net.d"),
		kubeletRoot:     filepath.Join(base, "kubelet"),
		podLogs:         filepath.Join(base, "pod-logs"),
		servingCert:     filepath.Join(base, "kubelet.crt"),
		servingKey:      filepath.Join(base, "kubelet.key"),
		host:            filepath.Join(base, "host"),
	}
}

// bindNodeRole grants the kubelet's user the bootstrap system:node role. The
// apiserver runs RBAC only (no Node authorizer), so that role is what a kubelet needs.
func (n *Node) bindNodeRole(t testing.TB) {
	t.Helper()
	_, err := n.Client.RbacV1().ClusterRoleBindings().Create(ctx(t), &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "k8snode:" + n.Name},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "system:node"},
		Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: "User", Name: "system:node:" + n.Name}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("k8snode: binding system:node: %v", err)
	}
}

// startControllers runs kube-controller-manager (service accounts and their CA
// ConfigMap, DaemonSets, StatefulSets, volume binding, garbage collection) and
// kube-scheduler, both as the cluster admin, each on a free secure port.
func (n *Node) startControllers(t testing.TB) {
	t.Helper()
	cm := k8stest.StartProcess(t, n.dirs.base, "kube-controller-manager", filepath.Join(n.bin, "kube-controller-manager"),
		"--kubeconfig="+n.Kubeconfig,
		"--bind-address=127.0.0.1",
		"--secure-port="+strconv.Itoa(freeport.Loopback(t)),
		"--leader-elect=false",
		"--service-account-private-key-file="+n.SigningKeyFile,
		"--root-ca-file="+n.CAFile,
		"--use-service-account-credentials=false",
	)
	cm.WaitReady(t, 120*time.Second, func() error {
		_, err := n.Client.CoreV1().ServiceAccounts("default").Get(ctx(t), "default", metav1.GetOptions{})
		return err
	})
	schedPort := freeport.Loopback(t)
	sched := k8stest.StartProcess(t, n.dirs.base, "kube-scheduler", filepath.Join(n.bin, "kube-scheduler"),
		"--kubeconfig="+n.Kubeconfig,
		"--bind-address=127.0.0.1",
		"--secure-port="+strconv.Itoa(schedPort),
		"--leader-elect=false",
	)
	// The scheduler serves /healthz with a certificate it made itself.
	httpc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	t.Cleanup(httpc.CloseIdleConnections)
	sched.WaitReady(t, 60*time.Second, func() error {
		resp, err := httpc.Get("https://127.0.0.1:" + strconv.Itoa(schedPort) + "/healthz")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("scheduler /healthz answered %s", resp.Status)
		}
		return nil
	})
}

func (n *Node) startKubelet(t testing.TB) {
	t.Helper()
	n.KubeletPort = freeport.Loopback(t)
	cfg := filepath.Join(n.dirs.base, "kubelet.yaml")
	writeFile(t, cfg, kubeletConfig(n.dirs, n.KubeletPort, freeport.Loopback(t), n.CAFile, "/"+filepath.Base(n.dirs.base)))
	kubeconfig := n.WriteKubeconfig(t, filepath.Join(n.dirs.base, "kubelet.kubeconfig"), n.nodeToken)
	k := k8stest.StartProcess(t, n.dirs.base, "kubelet", filepath.Join(n.bin, "kubelet"),
		"--config="+cfg,
		"--kubeconfig="+kubeconfig,
		"--root-dir="+n.dirs.kubeletRoot,
		"--cert-dir="+filepath.Join(n.dirs.kubeletRoot, "pki"),
		"--hostname-override="+n.Name,
	)
	k.WaitReady(t, 180*time.Second, func() error {
		node, err := n.Client.CoreV1().Nodes().Get(ctx(t), n.Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		for _, c := range node.Status.Conditions {
			if c.Type == corev1.NodeReady {
				if c.Status == corev1.ConditionTrue {
					return nil
				}
				return fmt.Errorf("node %s not ready: %s", n.Name, c.Message)
			}
		}
		return fmt.Errorf("node %s reports no Ready condition yet", n.Name)
	})
}

// ctr runs containerd's client against the node's containerd, in the namespace the
// kubelet's containers live in.
func (n *Node) ctr(args ...string) (string, error) {
	cmd := exec.Command(filepath.Join(n.bin, "ctr"), append([]string{"--address", n.dirs.containerdSock, "--namespace", "k8s.io"}, args...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("ctr %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

// ImportImage loads an OCI image tarball (e2e/images) into the node's containerd.
func (n *Node) ImportImage(t testing.TB, tarball string) {
	t.Helper()
	if _, err := n.ctr("images", "import", tarball); err != nil {
		t.Fatalf("k8snode: importing %s: %v", tarball, err)
	}
}

// Log is the tail of a node component's log ("kubelet", "containerd",
// "kube-controller-manager", "kube-scheduler"), for failure messages.
func (n *Node) Log(name string) string {
	b, _ := os.ReadFile(filepath.Join(n.dirs.base, name+".log"))
	if len(b) > 6000 {
		b = b[len(b)-6000:]
	}
	return string(b)
}

func ctx(t testing.TB) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

func randomHex(t testing.TB) string {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

func writeFile(t testing.TB, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatalf("k8snode: %v", err)
	}
}

// LoadImages builds the project's images from the repository at repo (e2e/images) and
// imports the pause image and the named ones (e.g. "workload") into the node.
func (n *Node) LoadImages(t testing.TB, repo string, names ...string) {
	t.Helper()
	imgs, err := images.Build(repo, t.TempDir(), ImageTag)
	if err != nil {
		t.Fatalf("k8snode: %v", err)
	}
	for _, img := range imgs {
		if img.Name == "pause" || slices.Contains(names, img.Name) {
			n.ImportImage(t, img.Tarball)
		}
	}
}

// ImageTag tags the images LoadImages builds: Image("workload") is
// docker.io/lanyard/workload:test.
const ImageTag = "test"

// Image is the reference of a project image LoadImages imported.
func Image(name string) string { return images.Repository + "/" + name + ":" + ImageTag }
