package agent

import (
	"net/url"
	"strconv"
	"testing"
	"time"

	brokerv1 "github.com/spiffe/go-spiffe/v2/exp/proto/spiffe/broker"
	"github.com/spiffe/spire-api-sdk/proto/spire/api/types"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/anypb"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/lanyard-dev/lanyard/agent/broker"
	"github.com/lanyard-dev/lanyard/agent/config"
	"github.com/lanyard-dev/lanyard/e2e/k8stest"
	"github.com/lanyard-dev/lanyard/internal/poll"
)

// podRef is a KubernetesObjectReference of type plural.core by namespace/name and/or UID.
func podRef(t *testing.T, plural, ns, name, uid string) *brokerv1.WorkloadReference {
	t.Helper()
	ref := &brokerv1.KubernetesObjectReference{Type: &brokerv1.KubernetesObjectType{Plural: plural, Group: "core"}, Uid: uid}
	if name != "" {
		ref.Key = &brokerv1.KubernetesObjectKey{Namespace: ns, Name: name}
	}
	a, err := anypb.New(ref)
	if err != nil {
		t.Fatal(err)
	}
	return &brokerv1.WorkloadReference{Reference: a}
}

func wantReason(t *testing.T, what string, err error, code codes.Code, why string) {
	t.Helper()
	if status.Code(err) != code || reason(err) != why {
		t.Fatalf("%s: %v (reason %q), want %s %s", what, err, reason(err), code, why)
	}
}

// TestBrokerAPIActsForReferencedPods: an agent with the k8s workload attestor (here on
// a kubelet's read-only /pods served from a real kube-apiserver) resolves a broker's
// KubernetesObjectReference to a pod, by namespace/name or UID, into the pod's
// selectors: entries on pod-level selectors match, container-level ones do not. A
// pod that is not listed, or whose UID differs from the named pod's, is
// WORKLOAD_NOT_FOUND (also a running stream's pod once deleted), a pod
// without entries WORKLOAD_NOT_ENTITLED, any other kind WORKLOAD_REFERENCE_INVALID.
func TestBrokerAPIActsForReferencedPods(t *testing.T) {
	k := k8stest.Start(t)
	k.CreateNamespace(t, "shop")
	k.CreateServiceAccount(t, "shop", "web")
	k.CreateNode(t, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-a"}})
	newPod := func(name string) *corev1.Pod {
		return k.CreatePod(t, &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: name, Labels: map[string]string{"app": name}},
			Spec:       corev1.PodSpec{NodeName: "node-a", ServiceAccountName: "web", Containers: []corev1.Container{{Name: "web", Image: "example.org/web:1"}}},
		})
	}
	web, lonely := newPod("web-1"), newPod("lonely")
	kubelet := k.StartKubelet(t, "")
	u, err := url.Parse(kubelet.URL)
	if err != nil {
		t.Fatal(err)
	}
	port, _ := strconv.Atoi(u.Port())

	e := newEnv(t)
	cfg, agentID := e.agentConfig()
	cfg.WorkloadAttestors.K8s = &config.K8sAttestor{KubeletHost: "127.0.0.1", KubeletReadOnlyPort: port}
	withBrokerAPI(t, &cfg)
	e.entry("broker", agentID, 0)
	sel := func(vs ...string) []*types.Selector {
		var out []*types.Selector
		for _, v := range vs {
			out = append(out, &types.Selector{Type: "k8s", Value: v})
		}
		return out
	}
	e.createEntries(agentID,
		&types.Entry{SpiffeId: &types.SPIFFEID{TrustDomain: testTD, Path: "/web"}, Selectors: sel("ns:shop", "sa:web", "pod-label:app:web-1")},
		&types.Entry{SpiffeId: &types.SPIFFEID{TrustDomain: testTD, Path: "/web-container"}, Selectors: sel("ns:shop", "container-name:web")})
	a := e.startAgent(cfg)
	a.servesID(t, "broker")
	c, conn := a.brokerConn(t, "/broker", agentID)
	defer conn.Close()
	ctx := metadata.AppendToOutgoingContext(t.Context(), broker.SecurityHeader, "true")
	uid := string(web.UID)

	stream, _ := subscribeWeb(ctx, t, c, podRef(t, "pods", "shop", "web-1", "")) // not web-container's (container-level)
	for _, ref := range []*brokerv1.WorkloadReference{podRef(t, "pods", "", "", uid), podRef(t, "pods", "shop", "web-1", uid)} {
		jwts, err := c.FetchJWTSVID(ctx, &brokerv1.FetchJWTSVIDRequest{Reference: ref, Audience: []string{"a"}})
		if err != nil || len(jwts.Svids) != 1 || jwts.Svids[0].SpiffeId != "spiffe://"+testTD+"/web" {
			t.Fatalf("JWT-SVIDs for pod %s: %v, %v", uid, jwts, err)
		}
	}

	fetch := func(ref *brokerv1.WorkloadReference) error {
		_, err := c.FetchJWTSVID(ctx, &brokerv1.FetchJWTSVIDRequest{Reference: ref, Audience: []string{"a"}})
		return err
	}
	wantReason(t, "a pod that does not exist", fetch(podRef(t, "pods", "shop", "web-2", "")), codes.NotFound, "WORKLOAD_NOT_FOUND")
	wantReason(t, "shop/web-1 with another pod's UID", fetch(podRef(t, "pods", "shop", "web-1", string(lonely.UID))), codes.NotFound, "WORKLOAD_NOT_FOUND")
	wantReason(t, "a pod without entries", fetch(podRef(t, "pods", "shop", "lonely", "")), codes.PermissionDenied, "WORKLOAD_NOT_ENTITLED")
	wantReason(t, "a reference to a service", fetch(podRef(t, "services", "shop", "web-1", "")), codes.InvalidArgument, "WORKLOAD_REFERENCE_INVALID")
	wantReason(t, "a UID that is no UUID", fetch(podRef(t, "pods", "", "", "web-1")), codes.InvalidArgument, "WORKLOAD_REFERENCE_INVALID")
	wantReason(t, "a name without namespace", fetch(podRef(t, "pods", "", "web-1", "")), codes.InvalidArgument, "WORKLOAD_REFERENCE_INVALID")

	// The pod goes; lookups see it once the pod list cached for a second is fetched again.
	zero := int64(0)
	if err := k.Client.CoreV1().Pods("shop").Delete(t.Context(), "web-1", metav1.DeleteOptions{GracePeriodSeconds: &zero}); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, time.Minute, "the deleted pod to be WORKLOAD_NOT_FOUND", func() bool {
		err := fetch(podRef(t, "pods", "shop", "web-1", ""))
		return status.Code(err) == codes.NotFound && reason(err) == "WORKLOAD_NOT_FOUND"
	})
	// The stream for the pod ends at its next update (a new entry here).
	e.createEntries(agentID, &types.Entry{SpiffeId: &types.SPIFFEID{TrustDomain: testTD, Path: "/web-2"}, Selectors: sel("ns:shop")})
	for err = nil; err == nil; { // until the stream ends
		_, err = stream.Recv()
	}
	wantReason(t, "the stream after the pod was deleted", err, codes.NotFound, "WORKLOAD_NOT_FOUND")
	conn.Close()
	e.shutdown(a)
}
