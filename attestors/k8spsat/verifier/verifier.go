package verifier

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strings"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/lanyard-dev/lanyard/attestors"
	"github.com/lanyard-dev/lanyard/attestors/k8spsat"
)

// DefaultAudience is the token audience accepted when a cluster sets none.
const DefaultAudience = k8spsat.DefaultAudience

// Keys of the TokenReview user.extra entries that name the pod a token is bound to.
const (
	extraPodName = "authentication.kubernetes.io/pod-name"
	extraPodUID  = "authentication.kubernetes.io/pod-uid"
)

const saUserPrefix = "system:serviceaccount:"

// Config configures the verifier.
type Config struct {
	// TrustDomain is the server's trust domain; agent IDs are minted in it.
	TrustDomain spiffeid.TrustDomain
	// Clusters are the clusters whose agents may attest, keyed by the name agents send.
	// The name becomes a segment of agent IDs. With no cluster, every agent is refused.
	Clusters map[string]ClusterConfig
	// Log receives one line per attestation outcome. Default: discarded.
	Log *slog.Logger
}

// ClusterConfig says how to reach one cluster and which agents in it are accepted.
type ClusterConfig struct {
	// ServiceAccountAllowList holds "namespace:name" of the agents' ServiceAccounts.
	// Required: tokens of any other ServiceAccount are refused.
	ServiceAccountAllowList []string
	// Audience is what the token must be issued for. nil means [DefaultAudience]; an
	// empty non-nil list means the apiserver's own audiences (--api-audiences).
	Audience []string
	// KubeconfigFile (kubeconfig_path in the server configuration) reaches the
	// cluster from outside; empty means in-cluster config (the server runs in that
	// cluster). The identity needs create on tokenreviews and get on pods and nodes.
	KubeconfigFile string
	// AllowedNodeLabelKeys and AllowedPodLabelKeys name the labels turned into
	// agent_node_label / agent_pod_label selectors; other labels are ignored, since
	// anyone able to label a pod could otherwise mint selectors.
	AllowedNodeLabelKeys []string
	AllowedPodLabelKeys  []string
	// Client, when set, is used instead of KubeconfigFile (tests, embedding).
	Client kubernetes.Interface
}

// Verifier is the server half of k8s_psat. It is safe for concurrent use.
type Verifier struct {
	td       spiffeid.TrustDomain
	clusters map[string]*cluster
	log      *slog.Logger
}

type cluster struct {
	name      string
	client    kubernetes.Interface
	allowed   map[string]bool // "ns:name"
	audiences []string
	nodeKeys  map[string]bool
	podKeys   map[string]bool
}

var _ attestors.NodeVerifier = (*Verifier)(nil)

// New checks cfg and builds the clients of every cluster.
func New(cfg Config) (*Verifier, error) {
	if cfg.TrustDomain.IsZero() {
		return nil, errors.New("k8s_psat: trust domain is not set")
	}
	v := &Verifier{td: cfg.TrustDomain, clusters: map[string]*cluster{}, log: cfg.Log}
	if v.log == nil {
		v.log = slog.New(slog.DiscardHandler)
	}
	for name, cc := range cfg.Clusters {
		c, err := newCluster(cfg.TrustDomain, name, cc)
		if err != nil {
			return nil, err
		}
		v.clusters[name] = c
	}
	return v, nil
}

func newCluster(td spiffeid.TrustDomain, name string, cc ClusterConfig) (*cluster, error) {
	// The cluster name is part of every agent ID, so it must be a valid path segment.
	if _, err := k8spsat.AgentID(td, name, "node-uid"); err != nil {
		return nil, fmt.Errorf("k8s_psat: clusters: name %q: use letters, digits, '-', '_' or '.'", name)
	}
	c := &cluster{name: name, allowed: map[string]bool{}, nodeKeys: toSet(cc.AllowedNodeLabelKeys), podKeys: toSet(cc.AllowedPodLabelKeys)}
	if len(cc.ServiceAccountAllowList) == 0 {
		return nil, fmt.Errorf("k8s_psat: clusters.%s.service_account_allow_list is empty: list the agents' ServiceAccounts as \"namespace:name\"", name)
	}
	for _, sa := range cc.ServiceAccountAllowList {
		ns, n, ok := strings.Cut(sa, ":")
		if !ok || ns == "" || n == "" || strings.Contains(n, ":") {
			return nil, fmt.Errorf("k8s_psat: clusters.%s.service_account_allow_list: %q is not \"namespace:name\"", name, sa)
		}
		c.allowed[sa] = true
	}
	c.audiences = cc.Audience
	if c.audiences == nil {
		c.audiences = []string{DefaultAudience}
	}
	c.client = cc.Client
	if c.client == nil {
		client, err := newClient(cc.KubeconfigFile)
		if err != nil {
			return nil, fmt.Errorf("k8s_psat: clusters.%s: %w", name, err)
		}
		c.client = client
	}
	return c, nil
}

func toSet(keys []string) map[string]bool {
	s := make(map[string]bool, len(keys))
	for _, k := range keys {
		s[k] = true
	}
	return s
}

// Type implements attestors.NodeVerifier.
func (*Verifier) Type() string { return k8spsat.Type }

// Attest validates the agent's token with the cluster's TokenReview API, then looks up
// the pod the token is bound to and that pod's node. Kubernetes ties a projected token
// to its pod, so a token copied out of a deleted pod stops working.
func (v *Verifier) Attest(ctx context.Context, payload []byte, _ attestors.Challenge) (*attestors.NodeAttestation, error) {
	p, err := k8spsat.ParsePayload(payload)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", attestors.ErrRejected, err)
	}
	c, ok := v.clusters[p.Cluster]
	if !ok {
		return nil, fmt.Errorf("%w: k8s_psat: cluster %q is not configured on this server", attestors.ErrRejected, p.Cluster)
	}
	log := v.log.With("cluster", c.name)
	att, err := c.attest(ctx, v.td, p.Token)
	if err != nil {
		log.Warn("k8s_psat attestation failed", "error", err)
		return nil, err
	}
	log.Info("k8s_psat attestation succeeded", "agent_id", att.AgentID.String())
	return att, nil
}

func (c *cluster) attest(ctx context.Context, td spiffeid.TrustDomain, token string) (*attestors.NodeAttestation, error) {
	who, err := c.review(ctx, token)
	if err != nil {
		return nil, err
	}
	ns, podName, podUID := who.ns, who.podName, who.podUID
	pod, err := c.client.CoreV1().Pods(ns).Get(ctx, podName, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return nil, fmt.Errorf("%w: k8s_psat: the token's pod %s/%s no longer exists", attestors.ErrRejected, ns, podName)
	case err != nil:
		return nil, fmt.Errorf("k8s_psat: cluster %s: getting pod %s/%s (the server needs get on pods): %w", c.name, ns, podName, err)
	}
	if string(pod.UID) != podUID {
		return nil, fmt.Errorf("%w: k8s_psat: the token is bound to pod %s/%s with UID %s, but that pod now has UID %s", attestors.ErrRejected, ns, podName, podUID, pod.UID)
	}
	if pod.Spec.NodeName == "" {
		return nil, fmt.Errorf("%w: k8s_psat: pod %s/%s is not scheduled on a node", attestors.ErrRejected, ns, podName)
	}
	node, err := c.client.CoreV1().Nodes().Get(ctx, pod.Spec.NodeName, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return nil, fmt.Errorf("%w: k8s_psat: node %s of pod %s/%s no longer exists", attestors.ErrRejected, pod.Spec.NodeName, ns, podName)
	case err != nil:
		return nil, fmt.Errorf("k8s_psat: cluster %s: getting node %s (the server needs get on nodes): %w", c.name, pod.Spec.NodeName, err)
	}
	if node.UID == "" {
		return nil, fmt.Errorf("k8s_psat: cluster %s: node %s has no UID", c.name, node.Name)
	}
	id, err := k8spsat.AgentID(td, c.name, string(node.UID))
	if err != nil {
		return nil, err
	}
	return &attestors.NodeAttestation{
		AgentID:     id,
		Selectors:   c.selectors(who.sa, pod, node),
		CanReattest: true,
	}, nil
}

// tokenOwner is who a reviewed token belongs to.
type tokenOwner struct {
	ns, sa          string
	podName, podUID string
}

// review asks the apiserver whether token is valid for our audiences and returns the
// ServiceAccount and pod it belongs to.
func (c *cluster) review(ctx context.Context, token string) (tokenOwner, error) {
	tr, err := c.client.AuthenticationV1().TokenReviews().Create(ctx, &authenticationv1.TokenReview{
		Spec: authenticationv1.TokenReviewSpec{Token: token, Audiences: c.audiences},
	}, metav1.CreateOptions{})
	if err != nil {
		return tokenOwner{}, fmt.Errorf("k8s_psat: cluster %s: token review (the server needs create on tokenreviews.authentication.k8s.io): %w", c.name, err)
	}
	return c.owner(tr.Status)
}

// owner reads who a token belongs to from the apiserver's review of it, and checks that
// owner may attest.
func (c *cluster) owner(st authenticationv1.TokenReviewStatus) (tokenOwner, error) {
	if !st.Authenticated {
		reason := st.Error
		if reason == "" {
			reason = "not authenticated"
		}
		return tokenOwner{}, fmt.Errorf("%w: k8s_psat: cluster %s refused the token: %s", attestors.ErrRejected, c.name, reason)
	}
	if len(c.audiences) > 0 && !slices.ContainsFunc(st.Audiences, func(a string) bool { return slices.Contains(c.audiences, a) }) {
		return tokenOwner{}, fmt.Errorf("%w: k8s_psat: token audiences %q include none of %q", attestors.ErrRejected, st.Audiences, c.audiences)
	}
	rest, ok := strings.CutPrefix(st.User.Username, saUserPrefix)
	ns, sa, ok2 := strings.Cut(rest, ":")
	if !ok || !ok2 || ns == "" || sa == "" {
		return tokenOwner{}, fmt.Errorf("%w: k8s_psat: token of %q is not a service account token", attestors.ErrRejected, st.User.Username)
	}
	if !c.allowed[ns+":"+sa] {
		return tokenOwner{}, fmt.Errorf("%w: k8s_psat: service account %s:%s is not in cluster %s's service_account_allow_list", attestors.ErrRejected, ns, sa, c.name)
	}
	podName, podUID := first(st.User.Extra[extraPodName]), first(st.User.Extra[extraPodUID])
	if podName == "" || podUID == "" {
		return tokenOwner{}, fmt.Errorf("%w: k8s_psat: the token of %s:%s is not bound to a pod: use a projected service account token", attestors.ErrRejected, ns, sa)
	}
	return tokenOwner{ns: ns, sa: sa, podName: podName, podUID: podUID}, nil
}

func first(v authenticationv1.ExtraValue) string {
	if len(v) == 0 {
		return ""
	}
	return v[0]
}

// selectors uses SPIRE's k8s_psat selector names, so existing entries keep matching.
func (c *cluster) selectors(sa string, pod *corev1.Pod, node *corev1.Node) []attestors.Selector {
	var sels []attestors.Selector
	add := func(k, v string) { sels = append(sels, attestors.Selector{Type: k8spsat.Type, Value: k + ":" + v}) }
	add("cluster", c.name)
	add("agent_ns", pod.Namespace)
	add("agent_sa", sa)
	add("agent_pod_name", pod.Name)
	add("agent_pod_uid", string(pod.UID))
	if pod.Status.HostIP != "" {
		add("agent_node_ip", pod.Status.HostIP)
	}
	add("agent_node_name", node.Name)
	add("agent_node_uid", string(node.UID))
	for _, k := range sortedKeys(node.Labels) {
		if c.nodeKeys[k] {
			add("agent_node_label", k+":"+node.Labels[k])
		}
	}
	for _, k := range sortedKeys(pod.Labels) {
		if c.podKeys[k] {
			add("agent_pod_label", k+":"+pod.Labels[k])
		}
	}
	return sels
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
