package k8s

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/lanyard-dev/lanyard/attestors"
)

// SelectorType is the type of every selector this attestor produces.
const SelectorType = "k8s"

// Defaults, matching SPIRE's k8s workload attestor where it has one.
const (
	DefaultSecurePort      = 10250
	DefaultKubeletCAPath   = "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt"
	DefaultTokenPath       = "/var/run/secrets/kubernetes.io/serviceaccount/token"
	DefaultNodeNameEnv     = "MY_NODE_NAME"
	DefaultMaxPollAttempts = 10
	DefaultPollInterval    = 300 * time.Millisecond
	DefaultCacheTTL        = time.Second
)

// Config configures the attestor; zero fields take the defaults above.
type Config struct {
	// KubeletURL overrides where the kubelet is reached (e.g. "https://10.0.0.5:10250").
	// Empty: https://<host>:SecurePort, or http://<host>:ReadOnlyPort when that is set,
	// where <host> is KubeletHost, else NodeName, else 127.0.0.1 (the agent then
	// needs hostNetwork).
	KubeletURL string
	// KubeletHost is the kubelet's host name or IP address.
	KubeletHost string
	// ReadOnlyPort selects the kubelet's unauthenticated port (usually 10255).
	ReadOnlyPort int
	// SecurePort is the kubelet's authenticated port. Default 10250.
	SecurePort int
	// NodeName names this node; default from the environment variable NodeNameEnv
	// (default MY_NODE_NAME, set from spec.nodeName in the agent's DaemonSet).
	NodeName    string
	NodeNameEnv string
	// KubeletCAPath holds the CA certificates the kubelet's serving certificate is
	// verified with. Default: the cluster CA of the agent's service account.
	KubeletCAPath string
	// KubeletServerName is the name checked in the kubelet certificate. Default: the
	// node name, or the host name when the kubelet is reached on 127.0.0.1.
	KubeletServerName string
	// SkipKubeletVerification accepts any kubelet certificate (not recommended).
	SkipKubeletVerification bool
	// TokenPath is the bearer token presented to the secure port. Default: the
	// agent's service account token. The kubelet needs --authentication-token-webhook.
	TokenPath string
	// CertificatePath and PrivateKeyPath authenticate with a client certificate
	// instead of the token.
	CertificatePath string
	PrivateKeyPath  string
	// ProcRoot is where procfs is mounted. Default /proc.
	ProcRoot string
	// MaxPollAttempts bounds how often the pod list is fetched again while a fresh
	// container is missing from it (the kubelet reports new containers with a delay).
	MaxPollAttempts int
	// PollInterval is the wait between those attempts.
	PollInterval time.Duration
	// CacheTTL is how long a pod list is reused, so a burst of workload calls costs
	// one kubelet request. Negative disables the cache.
	CacheTTL time.Duration
	// Now is the clock for the cache. Default time.Now.
	Now func() time.Time
	// Log receives debug lines about processes outside Kubernetes. Default: discarded.
	Log *slog.Logger
}

// Attestor is the k8s workload attestor. It is safe for concurrent use.
type Attestor struct {
	cfg     Config
	kubelet *kubelet
	cache   podCache
}

var _ attestors.WorkloadAttestor = (*Attestor)(nil)

// New checks cfg, fills in defaults and prepares the kubelet client.
func New(cfg Config) (*Attestor, error) {
	if cfg.ReadOnlyPort < 0 || cfg.ReadOnlyPort > 65535 || cfg.SecurePort < 0 || cfg.SecurePort > 65535 {
		return nil, errors.New("k8s attestor: kubelet ports must be between 1 and 65535")
	}
	if cfg.SecurePort == 0 {
		cfg.SecurePort = DefaultSecurePort
	}
	if cfg.NodeNameEnv == "" {
		cfg.NodeNameEnv = DefaultNodeNameEnv
	}
	if cfg.NodeName == "" {
		cfg.NodeName = os.Getenv(cfg.NodeNameEnv)
	}
	if cfg.KubeletCAPath == "" {
		cfg.KubeletCAPath = DefaultKubeletCAPath
	}
	if cfg.TokenPath == "" {
		cfg.TokenPath = DefaultTokenPath
	}
	if (cfg.CertificatePath == "") != (cfg.PrivateKeyPath == "") {
		return nil, errors.New("k8s attestor: set both certificate_path and private_key_path, or neither")
	}
	if cfg.ProcRoot == "" {
		cfg.ProcRoot = "/proc"
	}
	if cfg.MaxPollAttempts <= 0 {
		cfg.MaxPollAttempts = DefaultMaxPollAttempts
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = DefaultPollInterval
	}
	if cfg.CacheTTL == 0 {
		cfg.CacheTTL = DefaultCacheTTL
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	k, err := newKubelet(&cfg)
	if err != nil {
		return nil, fmt.Errorf("k8s attestor: %w", err)
	}
	return &Attestor{cfg: cfg, kubelet: k, cache: podCache{sem: make(chan struct{}, 1)}}, nil
}

// Attest returns the k8s selectors of process pid, or none when it runs outside a
// Kubernetes container. A container in a kubepods cgroup that the kubelet never
// reports is an error: it is a pod, and guessing "not a pod" would hide that.
func (a *Attestor) Attest(ctx context.Context, pid int32) ([]attestors.Selector, error) {
	if pid <= 0 {
		return nil, fmt.Errorf("k8s attestor: invalid pid %d", pid)
	}
	f, err := os.Open(filepath.Join(a.cfg.ProcRoot, strconv.Itoa(int(pid)), "cgroup"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("k8s attestor: process %d no longer exists: %w", pid, err)
	}
	if err != nil {
		return nil, fmt.Errorf("k8s attestor: %w", err)
	}
	c, ok, err := parseCgroups(f)
	f.Close()
	if err != nil {
		return nil, fmt.Errorf("k8s attestor: process %d: %w", pid, err)
	}
	if !ok {
		a.cfg.Log.Debug("process is not in a Kubernetes container", "pid", pid)
		return nil, nil
	}

	seen := -1 // generation of the last list searched, so a retry waits for a newer one
	for attempt := 1; ; attempt++ {
		list, gen, err := a.cache.get(ctx, a, seen)
		if err != nil {
			return nil, fmt.Errorf("k8s attestor: %w", err)
		}
		if p, st := find(list, c); st != nil {
			return selectors(p, st), nil
		}
		seen = gen
		if attempt >= a.cfg.MaxPollAttempts {
			return nil, fmt.Errorf("k8s attestor: container %s of pod %s is not in the kubelet's pod list after %d attempts", c.id, c.podUID, attempt)
		}
		t := time.NewTimer(a.cfg.PollInterval)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("k8s attestor: waiting for container %s to be listed: %w", c.id, ctx.Err())
		case <-t.C:
		}
	}
}

// find returns the pod and status of container c.
func find(list []pod, c container) (*pod, *containerStatus) {
	for i := range list {
		p := &list[i]
		if p.Metadata.UID != c.podUID {
			continue
		}
		for _, group := range [][]containerStatus{p.Status.ContainerStatuses, p.Status.InitContainerStatuses, p.Status.EphemeralContainerStatuses} {
			for j := range group {
				if _, id, ok := strings.Cut(group[j].ContainerID, "://"); ok && id == c.id {
					return p, &group[j]
				}
			}
		}
	}
	return nil, nil
}

// selectors uses SPIRE's names and value formats so existing entries keep matching:
// those of the pod, then those of container st.
func selectors(p *pod, st *containerStatus) []attestors.Selector {
	sels := podSelectors(p)
	sels = append(sels, attestors.Selector{Type: SelectorType, Value: "container-name:" + st.Name})
	for _, img := range images([]containerStatus{*st}) {
		sels = append(sels, attestors.Selector{Type: SelectorType, Value: "container-image:" + img})
	}
	return sels
}

// podSelectors are the selectors every container of p shares. Images are given both as
// the reference the pod asked for and as the resolved digest the runtime reports, so
// entries may pin either.
func podSelectors(p *pod) []attestors.Selector {
	var sels []attestors.Selector
	add := func(k, v string) { sels = append(sels, attestors.Selector{Type: SelectorType, Value: k + ":" + v}) }
	addNonEmpty := func(k, v string) {
		if v != "" {
			add(k, v)
		}
	}
	m := &p.Metadata
	add("ns", m.Namespace)
	addNonEmpty("sa", p.Spec.ServiceAccountName)
	addNonEmpty("node-name", p.Spec.NodeName)
	add("pod-uid", m.UID)
	add("pod-name", m.Name)
	keys := make([]string, 0, len(m.Labels))
	for k := range m.Labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		add("pod-label", k+":"+m.Labels[k])
	}
	for _, o := range m.OwnerReferences {
		add("pod-owner", o.Kind+":"+o.Name)
		add("pod-owner-uid", o.Kind+":"+o.UID)
	}
	for _, img := range images(p.Status.ContainerStatuses) {
		add("pod-image", img)
	}
	add("pod-image-count", strconv.Itoa(len(p.Status.ContainerStatuses)))
	for _, img := range images(p.Status.InitContainerStatuses) {
		add("pod-init-image", img)
	}
	add("pod-init-image-count", strconv.Itoa(len(p.Status.InitContainerStatuses)))
	return sels
}

// images lists the distinct image references and image IDs of statuses, sorted.
func images(statuses []containerStatus) []string {
	set := map[string]bool{}
	for _, s := range statuses {
		for _, v := range []string{s.Image, s.ImageID} {
			if v != "" {
				set[v] = true
			}
		}
	}
	out := make([]string, 0, len(set))
	for v := range set {
		out = append(out, v)
	}
	sort.Strings(out)
	return out
}

// podCache shares one kubelet pod list between concurrent callers for CacheTTL.
type podCache struct {
	sem chan struct{} // one fetch at a time; waiting honours ctx

	mu        sync.Mutex
	list      []pod
	gen       int
	fetchedAt time.Time
}

// get returns a pod list younger than CacheTTL whose generation is not stale,
// fetching one if needed.
func (c *podCache) get(ctx context.Context, a *Attestor, stale int) ([]pod, int, error) {
	if list, gen, ok := c.cached(a, stale); ok {
		return list, gen, nil
	}
	select {
	case c.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, 0, ctx.Err()
	}
	defer func() { <-c.sem }()
	// Another caller may have fetched while this one waited.
	if list, gen, ok := c.cached(a, stale); ok {
		return list, gen, nil
	}
	list, err := a.kubelet.pods(ctx)
	if err != nil {
		return nil, 0, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	c.list, c.fetchedAt = list, a.cfg.Now()
	return c.list, c.gen, nil
}

func (c *podCache) cached(a *Attestor, stale int) ([]pod, int, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen == 0 || c.gen == stale || a.cfg.Now().Sub(c.fetchedAt) >= a.cfg.CacheTTL {
		return nil, 0, false
	}
	return c.list, c.gen, true
}
