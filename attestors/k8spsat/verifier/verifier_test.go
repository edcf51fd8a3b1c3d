package verifier

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/lanyard-dev/lanyard/attestors"
	"github.com/lanyard-dev/lanyard/attestors/k8spsat"
	"github.com/lanyard-dev/lanyard/e2e/k8stest"
)

var td = spiffeid.RequireTrustDomainFromString("example.org")

// fixture is an agent pod "spire/agent-1" on node "node-a" in a real apiserver.
type fixture struct {
	c    *k8stest.Cluster
	v    *Verifier
	node *corev1.Node
	pod  *corev1.Pod
}

func newFixture(t *testing.T) *fixture {
	c := k8stest.Start(t)
	c.CreateNamespace(t, "spire")
	c.CreateServiceAccount(t, "spire", "spire-agent")
	c.CreateServiceAccount(t, "spire", "intruder")
	node := c.CreateNode(t, &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: "node-a", Labels: map[string]string{"topology.kubernetes.io/zone": "z1", "secret-ish": "no"}},
	})
	f := &fixture{c: c, node: node}
	f.pod = f.createPod(t, "agent-1", "spire-agent")
	v, err := New(Config{TrustDomain: td, Clusters: map[string]ClusterConfig{
		// c1 reaches the cluster through a kubeconfig file, like a server outside it.
		"c1": {
			ServiceAccountAllowList: []string{"spire:spire-agent"},
			KubeconfigFile:          c.Kubeconfig,
			AllowedNodeLabelKeys:    []string{"topology.kubernetes.io/zone"},
			AllowedPodLabelKeys:     []string{"app"},
		},
		// c2 accepts the apiserver's own audience instead of spire-server.
		"c2": {
			ServiceAccountAllowList: []string{"spire:spire-agent"},
			Audience:                []string{},
			Client:                  c.Client,
		},
	}})
	if err != nil {
		t.Fatal(err)
	}
	f.v = v
	return f
}

func (f *fixture) createPod(t *testing.T, name, sa string) *corev1.Pod {
	return f.c.CreatePod(t, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "spire", Name: name, Labels: map[string]string{"app": "spire-agent", "team": "x"}},
		Spec: corev1.PodSpec{
			NodeName:           "node-a",
			ServiceAccountName: sa,
			Containers:         []corev1.Container{{Name: "agent", Image: "example.org/lanyard-agent:1"}},
		},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, HostIP: "192.0.2.10"},
	})
}

func payload(t testing.TB, cluster, token string) []byte {
	b, err := json.Marshal(k8spsat.Payload{Cluster: cluster, Token: token})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestVerifier(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	pod := f.pod
	good := f.c.PodToken(t, "spire", "spire-agent", pod.Name, pod.UID, "spire-server", time.Hour)

	t.Run("a pod-bound token attests the agent as its node, with every SPIRE selector", func(t *testing.T) {
		// The agent half reads the token the kubelet would project into its pod.
		tokenPath := filepath.Join(t.TempDir(), "spire-agent")
		if err := os.WriteFile(tokenPath, []byte(good+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		evidence, err := k8spsat.Prover{Cluster: "c1", TokenPath: tokenPath}.Payload(ctx)
		if err != nil {
			t.Fatal(err)
		}
		att, err := f.v.Attest(ctx, evidence, nil)
		if err != nil {
			t.Fatal(err)
		}
		wantID := "spiffe://example.org/spire/agent/k8s_psat/c1/" + string(f.node.UID)
		if att.AgentID.String() != wantID {
			t.Errorf("agent ID = %s, want %s", att.AgentID, wantID)
		}
		if !att.CanReattest {
			t.Error("CanReattest = false; k8s_psat agents re-attest with a fresh token")
		}
		want := []string{
			"k8s_psat:cluster:c1",
			"k8s_psat:agent_ns:spire",
			"k8s_psat:agent_sa:spire-agent",
			"k8s_psat:agent_pod_name:agent-1",
			"k8s_psat:agent_pod_uid:" + string(pod.UID),
			"k8s_psat:agent_node_ip:192.0.2.10",
			"k8s_psat:agent_node_name:node-a",
			"k8s_psat:agent_node_uid:" + string(f.node.UID),
			"k8s_psat:agent_node_label:topology.kubernetes.io/zone:z1",
			"k8s_psat:agent_pod_label:app:spire-agent",
		}
		k8stest.SameSelectors(t, att.Selectors, want)
	})

	t.Run("a cluster configured with the apiserver's audience accepts tokens for it", func(t *testing.T) {
		tok := f.c.PodToken(t, "spire", "spire-agent", pod.Name, pod.UID, k8stest.Issuer, time.Hour)
		att, err := f.v.Attest(ctx, payload(t, "c2", tok), nil)
		if err != nil {
			t.Fatal(err)
		}
		if want := "spiffe://example.org/spire/agent/k8s_psat/c2/" + string(f.node.UID); att.AgentID.String() != want {
			t.Errorf("agent ID = %s, want %s", att.AgentID, want)
		}
	})

	intruderPod := f.createPod(t, "intruder-1", "intruder")
	rejections := []struct {
		name    string
		payload []byte
		wantMsg string
	}{
		{"a cluster the server does not know is refused", payload(t, "c9", good), `cluster "c9" is not configured`},
		{"a token issued for another audience is refused with the apiserver's reason", payload(t, "c1",
			f.c.PodToken(t, "spire", "spire-agent", pod.Name, pod.UID, "not-spire", time.Hour)), `token audiences ["not-spire"] is invalid for the target audiences ["spire-server"]`},
		{"a service account outside the allow list is refused", payload(t, "c1",
			f.c.PodToken(t, "spire", "intruder", intruderPod.Name, intruderPod.UID, "spire-server", time.Hour)),
			"service account spire:intruder is not in cluster c1's service_account_allow_list"},
		{"an expired token signed by the cluster is refused", payload(t, "c1", f.c.Resign(t, good, -2*time.Hour)), "service account token has expired"},
		{"a token that is not a JWT is refused", payload(t, "c1", "not-a-token"), "refused the token"},
		{"a payload that is not JSON is refused", []byte("token"), "not JSON"},
		{"a payload without a cluster is refused", payload(t, "", good), "names no cluster"},
		{"an oversized payload is refused before parsing", make([]byte, k8spsat.MaxPayloadSize+1), "over the"},
	}
	for _, tc := range rejections {
		t.Run(tc.name, func(t *testing.T) {
			_, err := f.v.Attest(ctx, tc.payload, nil)
			assertRejected(t, err, tc.wantMsg)
		})
	}

	t.Run("the crafted-token control: re-signing without changing expiry still attests", func(t *testing.T) {
		// Shows the expired case above is refused for its expiry, not for the re-signing.
		if _, err := f.v.Attest(ctx, payload(t, "c1", f.c.Resign(t, good, time.Hour)), nil); err != nil {
			t.Fatal(err)
		}
	})
}

// TestVerifierDeletedPod follows a token whose pod is deleted: refused at once because
// the pod is gone, refused for a same-named replacement pod (a new UID), and finally
// invalidated by the apiserver itself once its 10 s authentication cache lapses.
func TestVerifierDeletedPod(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	tok := f.c.PodToken(t, "spire", "spire-agent", f.pod.Name, f.pod.UID, "spire-server", time.Hour)
	if _, err := f.v.Attest(ctx, payload(t, "c1", tok), nil); err != nil {
		t.Fatal(err)
	}
	f.c.DeletePod(t, "spire", f.pod.Name)
	deleted := time.Now()

	// Within the apiserver's cache window the token still authenticates, so the
	// verifier's own pod checks are what refuse it.
	_, err := f.v.Attest(ctx, payload(t, "c1", tok), nil)
	assertRejectedEither(t, err, "pod spire/agent-1 no longer exists", deleted)
	f.createPod(t, "agent-1", "spire-agent")
	_, err = f.v.Attest(ctx, payload(t, "c1", tok), nil)
	assertRejectedEither(t, err, "that pod now has UID", deleted)
	// With a replacement present the apiserver would later report a UID mismatch
	// instead; removing it leaves the plain "pod gone" invalidation to observe.
	f.c.DeletePod(t, "spire", f.pod.Name)

	deadline := time.Now().Add(40 * time.Second)
	for {
		_, err = f.v.Attest(ctx, payload(t, "c1", tok), nil)
		if err != nil && strings.Contains(err.Error(), "invalidated") {
			assertRejected(t, err, "invalidated")
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("token of a deleted pod never reported invalidated; last error: %v", err)
		}
		time.Sleep(500 * time.Millisecond) // polling the apiserver's cache expiry
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	tests := []struct {
		name    string
		cfg     ClusterConfig
		cluster string
		wantMsg string
	}{
		{"an empty allow list would refuse every agent", ClusterConfig{}, "c1", "service_account_allow_list is empty"},
		{"allow list entries need a namespace", ClusterConfig{ServiceAccountAllowList: []string{"spire-agent"}}, "c1", `"spire-agent" is not "namespace:name"`},
		{"cluster names must fit in a SPIFFE ID", ClusterConfig{ServiceAccountAllowList: []string{"a:b"}}, "my cluster", `name "my cluster"`},
		{"a missing kubeconfig file is reported", ClusterConfig{ServiceAccountAllowList: []string{"a:b"}, KubeconfigFile: "/nonexistent/kubeconfig"}, "c1", "kubeconfig_path /nonexistent/kubeconfig"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(Config{TrustDomain: td, Clusters: map[string]ClusterConfig{tc.cluster: tc.cfg}})
			if err == nil || !strings.Contains(err.Error(), tc.wantMsg) {
				t.Fatalf("New error = %v, want it to contain %q", err, tc.wantMsg)
			}
		})
	}
}

func assertRejected(t *testing.T, err error, want string) {
	t.Helper()
	if !errors.Is(err, attestors.ErrRejected) {
		t.Fatalf("error = %v, want an ErrRejected", err)
	}
	if !strings.Contains(err.Error(), want) {
		t.Fatalf("error = %q, want it to mention %q", err, want)
	}
}

// assertRejectedEither accepts the apiserver's own invalidation in place of want only
// when the cache window may really have passed (a very slow machine).
func assertRejectedEither(t *testing.T, err error, want string, deleted time.Time) {
	t.Helper()
	if err != nil && strings.Contains(err.Error(), "invalidated") && time.Since(deleted) > 9*time.Second {
		t.Logf("apiserver cache lapsed before the check; got %v", err)
		return
	}
	assertRejected(t, err, want)
}
