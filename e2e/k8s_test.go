package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/lanyard-dev/lanyard/e2e/k8snode"
	"github.com/lanyard-dev/lanyard/e2e/k8stest"
)

// k8sEnv is a real one-node cluster (e2e/k8snode: a real kubelet running pods through
// containerd) with the agent's pods and two workload pods, web and db, and a trust
// domain whose server checks agents against the apiserver. The agent itself runs on the
// host and asks the node's kubelet about the workloads.
type k8sEnv struct {
	*domain
	n       *k8snode.Node
	c       *k8stest.Cluster
	node    *corev1.Node
	web, db *corev1.Pod
	webID   string // container IDs, as the runtime reports them
	dbID    string
}

func newK8sEnv(t *testing.T) *k8sEnv { return newK8sEnvWith(t, nil, "") }

// newK8sEnvWith is newK8sEnv with a hook run on the cluster before any pod exists, and
// extra server configuration (YAML, with %s standing for the kubeconfig path).
func newK8sEnvWith(t *testing.T, prepare func(*k8stest.Cluster), extra string) *k8sEnv {
	n := k8snode.Start(t)
	n.LoadImages(t, "..", "workload")
	c := n.Cluster
	if prepare != nil {
		prepare(c)
	}
	e := &k8sEnv{n: n, c: c}
	e.createNamespace(t, "spire", "spire-agent", "intruder")
	e.createNamespace(t, "shop", "web", "db")
	// The kubelet authorizes /pods as get on nodes/proxy, as deploy/agent.yaml grants.
	if _, err := c.Apply(t, []byte(`apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: kubelet-reader}
rules: [{apiGroups: [""], resources: [nodes/proxy], verbs: [get]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: kubelet-reader}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: kubelet-reader}
subjects: [{kind: ServiceAccount, namespace: spire, name: spire-agent}]
`), false); err != nil {
		t.Fatal(err)
	}
	node, err := c.Client.CoreV1().Nodes().Patch(t.Context(), n.Name, types.MergePatchType,
		[]byte(`{"metadata":{"labels":{"zone":"z1"}}}`), metav1.PatchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	e.node = node
	e.web, e.webID = e.createPod(t, "shop", "web-1", "web")
	e.db, e.dbID = e.createPod(t, "shop", "db-0", "db")

	e.domain = newDomain(t, "k8s.example")
	// A short agent TTL makes the agent re-attest (k8s_psat agents do instead of
	// renewing) while the test runs.
	e.configureServer(fmt.Sprintf(`agent_ttl: 20s
node_attestors:
  k8s_psat:
    clusters:
      c1:
        service_account_allow_list: ["spire:spire-agent"]
        kubeconfig_path: %s
        allowed_node_label_keys: [zone]
`, c.Kubeconfig) + strings.ReplaceAll(extra, "%s", c.Kubeconfig))
	e.startServer()
	return e
}

// createNamespace creates namespace ns and its service accounts.
func (e *k8sEnv) createNamespace(t *testing.T, ns string, accounts ...string) {
	t.Helper()
	cs := e.c.Client.CoreV1()
	if _, err := cs.Namespaces().Create(t.Context(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, sa := range accounts {
		if _, err := cs.ServiceAccounts(ns).Create(t.Context(), &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: sa}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
}

// startAgent starts a k8s_psat agent in pod agent-1 whose workload attestor asks the
// node's kubelet, and returns its SPIFFE ID.
func (e *k8sEnv) startK8sAgent(t *testing.T) (*corev1.Pod, string) {
	t.Helper()
	agentPod, token := e.agentPod(t, "agent-1", "spire-agent", "spire-server")
	// The kubelet authenticates the agent with its ordinary service account token
	// (audience: the apiserver's), not the one it attests with.
	kubeletToken := e.tokenFile(t, "kubelet", e.c.PodToken(t, "spire", "spire-agent", agentPod.Name, agentPod.UID, k8stest.Issuer, time.Hour))
	e.agent = start(t, "lanyard-agent", 0, nil, "run", "-config", e.agentConfig("agent", psatConfig(token, "spire-server")+fmt.Sprintf(`workload_attestors:
  k8s:
    kubelet_host: 127.0.0.1
    kubelet_secure_port: %d
    kubelet_ca_path: %s
    token_path: %s
`, e.n.KubeletPort, e.c.CAFile, kubeletToken)))
	e.waitAgentSocket()
	return agentPod, fmt.Sprintf("spiffe://k8s.example/spire/agent/k8s_psat/c1/%s", e.node.UID)
}

// createPod runs an idle workload container in a pod on the node, waits until it runs
// and returns it with its container ID.
func (e *k8sEnv) createPod(t *testing.T, ns, name, sa string) (*corev1.Pod, string) {
	t.Helper()
	_, err := e.c.Client.CoreV1().Pods(ns).Create(t.Context(), &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: corev1.PodSpec{
			NodeName: e.n.Name, ServiceAccountName: sa, HostNetwork: true,
			Containers: []corev1.Container{{Name: "main", Image: k8snode.Image("workload"), Args: []string{"hold", "-n", "0"}}},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pod := e.n.WaitPod(t, ns, name, 3*time.Minute, k8snode.Running)
	_, id, _ := strings.Cut(pod.Status.ContainerStatuses[0].ContainerID, "://")
	return pod, id
}

// agentPod creates an agent pod and returns it with a token bound to it for audience,
// written to a file as the kubelet would project it.
func (e *k8sEnv) agentPod(t *testing.T, name, sa, audience string) (*corev1.Pod, string) {
	pod, _ := e.createPod(t, "spire", name, sa)
	return pod, e.tokenFile(t, name+"-"+audience, e.c.PodToken(t, "spire", sa, pod.Name, pod.UID, audience, time.Hour))
}

func (e *k8sEnv) tokenFile(t *testing.T, name, token string) string {
	path := filepath.Join(e.dir, name+".token")
	writeFile(t, path, token)
	return path
}

// psatConfig is the agent YAML for k8s_psat with a token file and audience.
func psatConfig(tokenPath, audience string) string {
	return fmt.Sprintf("node_attestor: k8s_psat\nk8s_psat:\n  cluster: c1\n  token_path: %s\n  audience: %s\n", tokenPath, audience)
}

// attestOnce runs an agent with cfg until it fails to attest (the test expects a
// refusal) and returns the error.
func (e *k8sEnv) attestOnce(t *testing.T, name, cfg string) error {
	t.Helper()
	out, err := run(t, "lanyard-agent", 0, nil, "run", "-config", e.agentConfig(name, cfg))
	if err == nil {
		t.Fatalf("agent %s exited cleanly; it should have been refused:\n%s", name, out)
	}
	return err
}

// TestK8sPSATAndWorkloads runs a real lanyard-server checking agents against a real
// kube-apiserver, and a real lanyard-agent attesting with a pod-bound token and
// attesting processes in real containers of a real node by asking its kubelet.
func TestK8sPSATAndWorkloads(t *testing.T) {
	requireRoot(t)
	e := newK8sEnv(t)
	agentPod, agentID := e.startK8sAgent(t)

	t.Run("a pod-bound token attests the agent as its node, with k8s_psat selectors", func(t *testing.T) {
		out := e.cli("agent", "show", "-spiffeID", agentID)
		for _, want := range []string{
			"k8s_psat:cluster:c1", "k8s_psat:agent_ns:spire", "k8s_psat:agent_sa:spire-agent",
			"k8s_psat:agent_pod_name:agent-1", "k8s_psat:agent_pod_uid:" + string(agentPod.UID),
			"k8s_psat:agent_node_name:" + e.n.Name, "k8s_psat:agent_node_uid:" + string(e.node.UID),
			"k8s_psat:agent_node_ip:" + agentPod.Status.HostIP, "k8s_psat:agent_node_label:zone:z1",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("agent show lacks %s:\n%s", want, out)
			}
		}
	})

	webCgroup, dbCgroup := workloadCgroups(t, e)
	e.cli("entry", "create", "-parentID", agentID, "-spiffeID", e.id("web"), "-selector", "k8s:ns:shop", "-selector", "k8s:sa:web")
	e.cli("entry", "create", "-parentID", agentID, "-spiffeID", e.id("db"), "-selector", "k8s:ns:shop", "-selector", "k8s:sa:db")

	t.Run("a process in the web pod's cgroup gets the web SVID through go-spiffe", func(t *testing.T) {
		var out string
		eventually(t, 30*time.Second, "the web SVID", func() bool {
			var err error
			out, err = e.runInCgroup(t, webCgroup, "x509")
			return err == nil && strings.Contains(out, "svid "+e.id("web"))
		})
		if strings.Contains(out, e.id("db")) {
			t.Fatalf("the web process also got the db SVID:\n%s", out)
		}
	})

	t.Run("a process in another pod's cgroup gets that pod's SVID, not web's", func(t *testing.T) {
		out, err := e.runInCgroup(t, dbCgroup, "x509")
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(out, "svid "+e.id("db")) || strings.Contains(out, e.id("web")) {
			t.Fatalf("db process got:\n%s", out)
		}
	})

	t.Run("a process outside any pod gets no identity", func(t *testing.T) {
		out, err := run(t, "workload", 0, e.env(), "x509")
		if err == nil || !strings.Contains(err.Error(), "PermissionDenied") {
			t.Fatalf("host process: %q, %v; want PermissionDenied", out, err)
		}
	})

	t.Run("the agent re-attests with its token and keeps serving", func(t *testing.T) {
		eventually(t, 40*time.Second, "a re-attestation of "+agentID, func() bool {
			for _, l := range lines(e.server.Output(), "") {
				if strings.Contains(l, `msg="agent attested"`) && strings.Contains(l, agentID) && strings.Contains(l, "reattestation=true") {
					return true
				}
			}
			return false
		})
		eventually(t, 30*time.Second, "the web SVID after re-attestation", func() bool {
			out, err := e.runInCgroup(t, webCgroup, "x509")
			return err == nil && strings.Contains(out, "svid "+e.id("web"))
		})
		select {
		case <-e.agent.done:
			t.Fatalf("the agent exited after re-attesting: %v", e.agent.err)
		default:
		}
	})
}

// TestK8sPSATRejections checks the refusals an operator must be able to tell apart.
func TestK8sPSATRejections(t *testing.T) {
	requireRoot(t)
	e := newK8sEnv(t)
	pod, good := e.agentPod(t, "agent-1", "spire-agent", "spire-server")
	goodToken := e.c.PodToken(t, "spire", "spire-agent", pod.Name, pod.UID, "spire-server", time.Hour)
	_, wrongAud := e.agentPod(t, "agent-2", "spire-agent", "not-spire")
	_, intruder := e.agentPod(t, "intruder-1", "intruder", "spire-server")

	tests := []struct {
		name, cfg, want string
		byServer        bool // else the agent refuses to send it
	}{
		{"a token for another audience is refused by the server", psatConfig(wrongAud, "not-spire"),
			`token audiences ["not-spire"] is invalid for the target audiences ["spire-server"]`, true},
		{"a token for another audience is caught by the agent before sending", psatConfig(wrongAud, "spire-server"),
			`is for audiences ["not-spire"], not "spire-server"`, false},
		{"an expired token is refused", psatConfig(e.tokenFile(t, "expired", e.c.Resign(t, goodToken, -2*time.Hour)), "spire-server"),
			"service account token has expired", true},
		{"a service account outside the allow list is refused", psatConfig(intruder, "spire-server"),
			"service account spire:intruder is not in cluster c1's service_account_allow_list", true},
		{"an unknown cluster is refused", strings.Replace(psatConfig(good, "spire-server"), "cluster: c1", "cluster: c9", 1),
			`cluster "c9" is not configured on this server`, true},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := e.attestOnce(t, fmt.Sprintf("refused-%d", i), tc.cfg)
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error = %v\nwant it to contain %q", err, tc.want)
			}
			if got := strings.Contains(err.Error(), "PermissionDenied desc = k8s_psat attestation failed"); got != tc.byServer {
				t.Fatalf("refused by the server = %v, want %v: %v", got, tc.byServer, err)
			}
		})
	}

	t.Run("the token of a deleted pod is refused, then invalidated by the apiserver", func(t *testing.T) {
		doomed, tok := e.agentPod(t, "agent-3", "spire-agent", "spire-server")
		// A first, successful attestation puts the token in the apiserver's cache.
		live := start(t, "lanyard-agent", 0, nil, "run", "-config", e.agentConfig("live", psatConfig(tok, "spire-server")))
		e.waitAgentSocket()
		live.stop()
		e.c.DeletePod(t, "spire", doomed.Name)
		deleted := time.Now()
		err := e.attestOnce(t, "deleted-0", psatConfig(tok, "spire-server"))
		switch {
		case strings.Contains(err.Error(), "pod spire/agent-3 no longer exists"):
		case strings.Contains(err.Error(), "invalidated") && time.Since(deleted) > 9*time.Second:
			t.Logf("the apiserver's cache lapsed before the first check (a slow machine): %v", err)
		default:
			t.Fatalf("error = %v, want the deleted pod named", err)
		}
		// The apiserver keeps authenticating the token for up to 10 s (its cache);
		// after that it reports the token itself as invalidated.
		deadline := time.Now().Add(40 * time.Second)
		for n := 1; ; n++ {
			err = e.attestOnce(t, fmt.Sprintf("deleted-%d", n), psatConfig(tok, "spire-server"))
			if strings.Contains(err.Error(), "service account token has been invalidated") {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("the deleted pod's token was never reported invalidated; last error: %v", err)
			}
			time.Sleep(time.Second) // polling the apiserver's cache expiry
		}
	})
}

// workloadCgroups finds the cgroups the kubelet made for the web and db containers (in
// the cgroup v1 pids hierarchy, or the v2 one): a process moved there is in that
// container as far as /proc/PID/cgroup tells.
func workloadCgroups(t *testing.T, e *k8sEnv) (web, db string) {
	return e.containerCgroup(t, e.webID), e.containerCgroup(t, e.dbID)
}

func (e *k8sEnv) containerCgroup(t *testing.T, id string) string {
	t.Helper()
	pid := e.n.ContainerPID(t, id)
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		t.Fatal(err)
	}
	v1, v2 := k8stest.CgroupRoots()
	for _, line := range strings.Split(string(b), "\n") {
		parts := strings.SplitN(line, ":", 3)
		switch {
		case len(parts) != 3 || !strings.HasSuffix(parts[2], id):
		case parts[1] == "pids" && v1 != "":
			return filepath.Join(v1, parts[2])
		case parts[0] == "0" && v2 != "" && v1 == "":
			return filepath.Join(v2, parts[2])
		}
	}
	t.Fatalf("no cgroup of container %s to join in:\n%s", id, b)
	return ""
}

// runInCgroup runs the workload binary as root inside cgroup dir: a shell moves
// itself there, then execs the workload, so the process is in the pod's cgroup from
// its first instruction.
func (e *k8sEnv) runInCgroup(t *testing.T, dir string, args ...string) (string, error) {
	t.Helper()
	script := `echo $$ > "$0/cgroup.procs" && exec "$@"`
	return runCommand(t, "/bin/sh", 0, e.env(), append([]string{"-c", script, dir, filepath.Join(binDir, "workload")}, args...)...)
}
