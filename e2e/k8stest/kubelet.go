package k8stest

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Kubelet stands in for a node's kubelet at the process boundary: it answers GET /pods
// with the pods the real apiserver holds, as a kubelet would list them. It is for unit
// tests that need a crafted pod list (containers that exist only as statuses, a
// container reported late); end-to-end tests use the real kubelet of e2e/k8snode.
type Kubelet struct {
	// URL is https://127.0.0.1:PORT (secure port) or http://127.0.0.1:PORT (read-only).
	URL string
	// CAPath is a PEM file that verifies the secure port's certificate (IP SAN
	// 127.0.0.1); "" on the read-only port.
	CAPath string

	cluster *Cluster
	user    string // "" on the read-only port

	mu       sync.Mutex
	requests int
	hideID   string // container ID left out of the answers ...
	hideFor  int    // ... up to this request number
}

// StartKubelet serves /pods until t ends. With user set it serves HTTPS and, like a
// kubelet started with --authentication-token-webhook, accepts only bearer tokens that
// TokenReview maps to that user (e.g. "system:serviceaccount:spire:spire-agent").
// With user "" it is the unauthenticated read-only port over plain HTTP.
func (c *Cluster) StartKubelet(t testing.TB, user string) *Kubelet {
	t.Helper()
	k := &Kubelet{cluster: c, user: user}
	srv := httptest.NewUnstartedServer(k)
	if user == "" {
		srv.Start()
	} else {
		// Clients testing a wrong CA abort handshakes; that is expected, not news.
		srv.Config.ErrorLog = log.New(io.Discard, "", 0)
		srv.StartTLS()
		k.CAPath = filepath.Join(t.TempDir(), "kubelet-ca.pem")
		if err := os.WriteFile(k.CAPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o644); err != nil {
			t.Fatalf("k8stest: %v", err)
		}
	}
	t.Cleanup(srv.Close)
	k.URL = srv.URL
	return k
}

func (k *Kubelet) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/pods" {
		http.NotFound(w, r)
		return
	}
	if k.user != "" {
		tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || !k.authenticated(r.Context(), tok) {
			http.Error(w, "Unauthorized", http.StatusUnauthorized)
			return
		}
	}
	k.mu.Lock()
	k.requests++
	hide := k.requests <= k.hideFor
	hideID := k.hideID
	k.mu.Unlock()
	list, err := k.cluster.Client.CoreV1().Pods("").List(r.Context(), metav1.ListOptions{})
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	if hide {
		// A container that started a moment ago: the kubelet has not reported it yet.
		for i := range list.Items {
			st := &list.Items[i].Status
			st.ContainerStatuses = slices.DeleteFunc(st.ContainerStatuses, func(s corev1.ContainerStatus) bool {
				return strings.HasSuffix(s.ContainerID, hideID)
			})
		}
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(list)
}

func (k *Kubelet) authenticated(ctx context.Context, token string) bool {
	tr, err := k.cluster.Client.AuthenticationV1().TokenReviews().Create(ctx,
		&authenticationv1.TokenReview{Spec: authenticationv1.TokenReviewSpec{Token: token}}, metav1.CreateOptions{})
	return err == nil && tr.Status.Authenticated && tr.Status.User.Username == k.user
}

// Requests counts the /pods answers served so far.
func (k *Kubelet) Requests() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.requests
}

// HideContainer leaves container id out of the next n answers, like a kubelet that
// has not yet reported a container that just started.
func (k *Kubelet) HideContainer(id string, n int) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.hideID, k.hideFor = id, k.requests+n
}
