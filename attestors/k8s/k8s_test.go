package k8s

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"math/big"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/lanyard-dev/lanyard/attestors"
	"github.com/lanyard-dev/lanyard/e2e/k8stest"
)

func randomID(t *testing.T) string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

func digest(t *testing.T) string { return "sha256:" + randomID(t) }

// procRoot is a fake /proc holding only cgroup files, for tests that need no root.
type procRoot struct {
	dir  string
	next int32
}

func (p *procRoot) process(t *testing.T, cgroup string) int32 {
	p.next++
	d := filepath.Join(p.dir, strconv.Itoa(int(p.next)))
	if err := os.MkdirAll(d, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(d, "cgroup"), []byte(cgroup+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return p.next
}

type workload struct {
	pod       *corev1.Pod
	container string // ID of the first container
	selectors []string
}

func TestAttestor(t *testing.T) {
	c := k8stest.Start(t)
	ctx := context.Background()
	c.CreateNamespace(t, "spire")
	c.CreateServiceAccount(t, "spire", "spire-agent")
	c.CreateNamespace(t, "shop")
	c.CreateServiceAccount(t, "shop", "web")
	c.CreateServiceAccount(t, "shop", "db")
	c.CreateNode(t, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-a"}})

	web := createWebPod(t, c)
	db := createDBPod(t, c)

	// The agent's own pod and service account token, presented to the kubelet.
	agentPod := c.CreatePod(t, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "spire", Name: "spire-agent-x1"},
		Spec:       corev1.PodSpec{NodeName: "node-a", ServiceAccountName: "spire-agent", Containers: []corev1.Container{{Name: "agent", Image: "lanyard-agent"}}},
	})
	dir := t.TempDir()
	tokenPath := filepath.Join(dir, "token")
	agentToken := c.PodToken(t, "spire", "spire-agent", agentPod.Name, agentPod.UID, k8stest.Issuer, time.Hour)
	if err := os.WriteFile(tokenPath, []byte(agentToken), 0o600); err != nil {
		t.Fatal(err)
	}

	kubelet := c.StartKubelet(t, "system:serviceaccount:spire:spire-agent")
	procs := &procRoot{dir: filepath.Join(dir, "proc")}
	newAttestor := func(t *testing.T, cfg Config) *Attestor {
		if cfg.KubeletURL == "" && cfg.ReadOnlyPort == 0 {
			cfg.KubeletURL = kubelet.URL
		}
		if cfg.KubeletCAPath == "" {
			cfg.KubeletCAPath = kubelet.CAPath
		}
		if cfg.TokenPath == "" {
			cfg.TokenPath = tokenPath
		}
		if cfg.ProcRoot == "" {
			cfg.ProcRoot = procs.dir
		}
		if cfg.PollInterval == 0 {
			cfg.PollInterval = 10 * time.Millisecond
		}
		a, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	cgroupV1 := func(w workload, id string) string {
		return "7:pids:/kubepods/besteffort/pod" + string(w.pod.UID) + "/" + id
	}

	t.Run("a container of a pod gets every selector of its pod and container", func(t *testing.T) {
		a := newAttestor(t, Config{})
		got, err := a.Attest(ctx, procs.process(t, cgroupV1(web, web.container)))
		assertSelectors(t, got, err, web.selectors)
	})

	t.Run("a pod named by namespace/name or UID gets its pod-level selectors", func(t *testing.T) {
		a := newAttestor(t, Config{})
		want := slices.DeleteFunc(slices.Clone(web.selectors), func(s string) bool {
			return strings.HasPrefix(s, "k8s:container-")
		})
		uid := string(web.pod.UID)
		for _, ref := range []PodRef{{Namespace: "shop", Name: "web-1"}, {UID: uid}, {Namespace: "shop", Name: "web-1", UID: uid}} {
			got, err := a.PodSelectors(ctx, ref)
			assertSelectors(t, got, err, want)
		}
		for _, ref := range []PodRef{
			{Namespace: "shop", Name: "web-2"},
			{Namespace: "other", Name: "web-1"},
			{UID: ownerUID},
			{Namespace: "shop", Name: "web-1", UID: string(db.pod.UID)}, // db-0's UID: the named pod must have it
		} {
			if _, err := a.PodSelectors(ctx, ref); !errors.Is(err, ErrPodNotFound) {
				t.Errorf("%s: error %v, want ErrPodNotFound", ref, err)
			}
		}
		if _, err := a.PodSelectors(ctx, PodRef{Name: "web-1"}); err == nil || errors.Is(err, ErrPodNotFound) {
			t.Errorf("a name without namespace: error %v, want a refusal", err)
		}
	})

	t.Run("another container of the same pod gets its own container selectors", func(t *testing.T) {
		a := newAttestor(t, Config{})
		sidecar := web.pod.Status.ContainerStatuses[1]
		_, id, _ := strings.Cut(sidecar.ContainerID, "://")
		got, err := a.Attest(ctx, procs.process(t, cgroupV1(web, id)))
		want := slices.DeleteFunc(slices.Clone(web.selectors), func(s string) bool {
			return strings.HasPrefix(s, "k8s:container-")
		})
		want = append(want, "k8s:container-name:sidecar", "k8s:container-image:"+sidecar.Image, "k8s:container-image:"+sidecar.ImageID)
		assertSelectors(t, got, err, want)
	})

	t.Run("a process in another pod's cgroup gets that pod's selectors (systemd layout)", func(t *testing.T) {
		a := newAttestor(t, Config{})
		cg := "0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" +
			strings.ReplaceAll(string(db.pod.UID), "-", "_") + ".slice/cri-containerd-" + db.container + ".scope"
		got, err := a.Attest(ctx, procs.process(t, cg))
		assertSelectors(t, got, err, db.selectors)
	})

	t.Run("a process outside any pod gets no k8s selectors and no error", func(t *testing.T) {
		a := newAttestor(t, Config{})
		before := kubelet.Requests()
		got, err := a.Attest(ctx, procs.process(t, "0::/user.slice/user-1000.slice/session-3.scope"))
		if err != nil || len(got) != 0 {
			t.Fatalf("Attest = %v, %v; want no selectors", got, err)
		}
		if kubelet.Requests() != before {
			t.Error("the kubelet was queried for a process outside Kubernetes")
		}
	})

	t.Run("a container the kubelet lists only after a few polls is found by retrying", func(t *testing.T) {
		a := newAttestor(t, Config{MaxPollAttempts: 10})
		kubelet.HideContainer(db.container, 3)
		before := kubelet.Requests()
		got, err := a.Attest(ctx, procs.process(t, cgroupV1(db, db.container)))
		assertSelectors(t, got, err, db.selectors)
		if n := kubelet.Requests() - before; n != 4 {
			t.Errorf("kubelet requests = %d, want 4 (3 without the container, 1 with it)", n)
		}
	})

	t.Run("a container the kubelet never lists fails after MaxPollAttempts", func(t *testing.T) {
		a := newAttestor(t, Config{MaxPollAttempts: 3})
		before := kubelet.Requests()
		_, err := a.Attest(ctx, procs.process(t, cgroupV1(web, randomID(t))))
		if err == nil || !strings.Contains(err.Error(), "not in the kubelet's pod list after 3 attempts") {
			t.Fatalf("error = %v, want a bounded-retry failure", err)
		}
		if n := kubelet.Requests() - before; n != 3 {
			t.Errorf("kubelet requests = %d, want 3", n)
		}
	})

	t.Run("calls within the cache TTL share one kubelet request", func(t *testing.T) {
		now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		a := newAttestor(t, Config{CacheTTL: time.Second, Now: func() time.Time { return now }})
		pid := procs.process(t, cgroupV1(web, web.container))
		before := kubelet.Requests()
		for range 3 {
			if _, err := a.Attest(ctx, pid); err != nil {
				t.Fatal(err)
			}
		}
		if n := kubelet.Requests() - before; n != 1 {
			t.Errorf("kubelet requests for 3 calls within the TTL = %d, want 1", n)
		}
		now = now.Add(time.Second)
		if _, err := a.Attest(ctx, pid); err != nil {
			t.Fatal(err)
		}
		if n := kubelet.Requests() - before; n != 2 {
			t.Errorf("kubelet requests after the TTL = %d, want 2", n)
		}
	})

	t.Run("the read-only port serves the same selectors without a token", func(t *testing.T) {
		ro := c.StartKubelet(t, "")
		u, err := url.Parse(ro.URL)
		if err != nil {
			t.Fatal(err)
		}
		port, _ := strconv.Atoi(u.Port())
		a := newAttestor(t, Config{ReadOnlyPort: port, KubeletHost: "127.0.0.1", TokenPath: filepath.Join(dir, "absent")})
		got, err := a.Attest(ctx, procs.process(t, cgroupV1(web, web.container)))
		assertSelectors(t, got, err, web.selectors)
	})

	failures := []struct {
		name    string
		cfg     func() Config
		wantMsg string
	}{
		{"a kubelet certificate from another CA is refused", func() Config {
			p := filepath.Join(t.TempDir(), "other-ca.pem")
			_ = os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: selfSigned(t)}), 0o644)
			return Config{KubeletCAPath: p}
		}, "certificate"},
		{"a token the kubelet does not accept is reported", func() Config {
			p := filepath.Join(t.TempDir(), "token")
			_ = os.WriteFile(p, []byte("not-a-token"), 0o600)
			return Config{TokenPath: p}
		}, "401 Unauthorized"},
		{"a missing token file names the setting", func() Config {
			return Config{TokenPath: filepath.Join(t.TempDir(), "absent")}
		}, "set token_path"},
	}
	for _, tc := range failures {
		t.Run(tc.name, func(t *testing.T) {
			a := newAttestor(t, tc.cfg())
			_, err := a.Attest(ctx, procs.process(t, cgroupV1(web, web.container)))
			if err == nil || !strings.Contains(err.Error(), tc.wantMsg) {
				t.Fatalf("error = %v, want it to mention %q", err, tc.wantMsg)
			}
		})
	}

	t.Run("real processes placed in kubepods cgroups get their own pod's selectors", func(t *testing.T) {
		testRealCgroups(t, newAttestor, web, db)
	})
}

// selfSigned is a CA certificate that did not sign the fake kubelet's certificate.
func selfSigned(t *testing.T) []byte {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "other CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func assertSelectors(t *testing.T, got []attestors.Selector, err error, want []string) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	k8stest.SameSelectors(t, got, want)
}
