package podcert

import (
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/svid/x509svid"
	certsv1 "k8s.io/api/certificates/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/lanyard-dev/lanyard/e2e/k8stest"
	"github.com/lanyard-dev/lanyard/internal/renew"
)

const signerName = "lanyard.dev/spiffe-x509"

// noChanges: these tests publish ClusterTrustBundles by calling Publish.
type noChanges struct{}

func (noChanges) Subscribe() (<-chan struct{}, func()) { return nil, func() {} }

func TestSignerAnswersTheKubeletsRequests(t *testing.T) {
	c := startCluster(t)
	s := c.runSigner(t, c.newCA(t, "s1"), nil)
	c.k.CreateNamespace(t, "shop")
	c.k.CreateServiceAccount(t, "shop", "web")
	bundle := c.trustBundle(t, signerName, noChanges{})
	web := c.pod(t, "shop", "web-1", "web", "node-1", signerName, nil)

	t.Run("a pod's request is issued an X.509-SVID of its service account, verifying against the ClusterTrustBundle", func(t *testing.T) {
		key := ecKey(t)
		pcr, cond := c.request(t, web, signerName, key, nil)
		if cond.Type != certsv1.PodCertificateRequestConditionTypeIssued {
			t.Fatalf("answer %s %s: %s", cond.Type, cond.Reason, cond.Message)
		}
		certs := chain(t, pcr)
		id, _, err := x509svid.Verify(certs, bundle)
		if err != nil {
			t.Fatalf("the chain does not verify against the ClusterTrustBundle: %v", err)
		}
		if id.String() != "spiffe://example.org/ns/shop/sa/web" {
			t.Errorf("SPIFFE ID %s", id)
		}
		leaf := certs[0]
		if !key.Public().(interface{ Equal(crypto.PublicKey) bool }).Equal(leaf.PublicKey) {
			t.Error("the certificate is not for the stub request's key")
		}
		st := pcr.Status
		if !st.NotBefore.Time.Equal(leaf.NotBefore) || !st.NotAfter.Time.Equal(leaf.NotAfter) {
			t.Errorf("status times %s..%s, certificate %s..%s", st.NotBefore, st.NotAfter, leaf.NotBefore, leaf.NotAfter)
		}
		if got := leaf.NotAfter.Sub(leaf.NotBefore); got != time.Hour {
			t.Errorf("lifetime %s, want the configured 1h", got)
		}
		if want := renew.HalfLife(leaf.NotBefore, leaf.NotAfter); !st.BeginRefreshAt.Time.Equal(want) {
			t.Errorf("beginRefreshAt %s, want half-life %s", st.BeginRefreshAt, want)
		}
	})

	c.template(t, "aaa-not-for-pods", map[string]any{ // sorts first, but did not opt in
		"spiffeIDTemplate": "spiffe://{{ .TrustDomain }}/agents-only",
		"podSelector":      map[string]any{"matchLabels": map[string]any{"app": "api"}},
	})
	c.template(t, "api", map[string]any{
		"spiffeIDTemplate": "spiffe://{{ .TrustDomain }}/api/{{ .PodMeta.Name }}",
		"podSelector":      map[string]any{"matchLabels": map[string]any{"app": "api"}},
		"dnsNameTemplates": []any{"{{ .PodMeta.Name }}.{{ .PodMeta.Namespace }}.svc.{{ .ClusterDomain }}"},
		"ttl":              "48h",
		"podCertificates":  true,
	})
	s.awaitTemplate(t, "api")
	api := c.pod(t, "shop", "api-1", "web", "node-1", signerName, map[string]string{"app": "api"})

	t.Run("an opted-in IdentityTemplate decides ID and DNS names; its ttl is capped by maxExpirationSeconds", func(t *testing.T) {
		pcr, cond := c.request(t, api, signerName, ecKey(t), func(r *certsv1.PodCertificateRequest) {
			two := int32(7200)
			r.Spec.MaxExpirationSeconds = &two
		})
		if cond.Type != certsv1.PodCertificateRequestConditionTypeIssued {
			t.Fatalf("answer %s %s: %s", cond.Type, cond.Reason, cond.Message)
		}
		leaf := chain(t, pcr)[0]
		if leaf.URIs[0].String() != "spiffe://example.org/api/api-1" || !slices.Equal(leaf.DNSNames, []string{"api-1.shop.svc.cluster.local"}) {
			t.Errorf("ID %s, DNS names %v", leaf.URIs[0], leaf.DNSNames)
		}
		if got := leaf.NotAfter.Sub(leaf.NotBefore); got != 2*time.Hour {
			t.Errorf("lifetime %s, want maxExpirationSeconds' 2h (the template asks 48h)", got)
		}
	})

	denials := []struct {
		name, reason string
		mutate       func(*certsv1.PodCertificateRequest)
	}{
		{"a key type the CA does not sign (Ed25519)", certsv1.PodCertificateRequestConditionUnsupportedKeyType, func(r *certsv1.PodCertificateRequest) {
			_, k, _ := ed25519.GenerateKey(rand.Reader)
			r.Spec.StubPKCS10Request = c.k.PodCertificateRequest(t, web, signerName, k).Spec.StubPKCS10Request
		}},
		{"userAnnotations the signer does not know", certsv1.PodCertificateRequestConditionInvalidUserConfig, func(r *certsv1.PodCertificateRequest) {
			r.Spec.UnverifiedUserAnnotations = map[string]string{"example.com/flavour": "mint"}
		}},
	}
	for _, tt := range denials {
		t.Run("denied: "+tt.name, func(t *testing.T) {
			_, cond := c.request(t, web, signerName, ecKey(t), tt.mutate)
			if cond.Type != certsv1.PodCertificateRequestConditionTypeDenied || cond.Reason != tt.reason {
				t.Fatalf("answer %s %s (%s), want Denied %s", cond.Type, cond.Reason, cond.Message, tt.reason)
			}
		})
	}

	other := c.pod(t, "shop", "web-2", "web", "node-2", signerName, nil)
	t.Run("the apiserver refuses a kubelet's request for a pod on another node or with another UID", func(t *testing.T) {
		node1 := c.k.NodeClient(t, "node-1")
		foreign := c.k.PodCertificateRequest(t, other, signerName, ecKey(t))
		foreign.Spec.NodeName, foreign.Spec.NodeUID = "node-1", c.nodes["node-1"].UID
		if _, err := k8stest.CreatePodCertificateRequest(t, node1, foreign, true); !apierrors.IsForbidden(err) {
			t.Errorf("a request from node-1 for a pod on node-2: %v, want Forbidden", err)
		}
		stale := c.k.PodCertificateRequest(t, web, signerName, ecKey(t))
		stale.Spec.PodUID = "00000000-0000-0000-0000-000000000000"
		if _, err := k8stest.CreatePodCertificateRequest(t, node1, stale, false); err == nil || !strings.Contains(err.Error(), "differs") {
			t.Errorf("a request with another pod UID: %v, want refused", err)
		}
	})

	mismatches := []struct {
		name   string
		mutate func(*certsv1.PodCertificateRequest)
	}{
		{"another pod UID", func(r *certsv1.PodCertificateRequest) { r.Spec.PodUID = "00000000-0000-0000-0000-000000000000" }},
		{"a node the pod does not run on", func(r *certsv1.PodCertificateRequest) {
			r.Spec.NodeName, r.Spec.NodeUID = "node-2", c.nodes["node-2"].UID
		}},
		{"another node UID", func(r *certsv1.PodCertificateRequest) { r.Spec.NodeUID = "00000000-0000-0000-0000-000000000001" }},
		{"another service account UID", func(r *certsv1.PodCertificateRequest) {
			r.Spec.ServiceAccountUID = "00000000-0000-0000-0000-000000000002"
		}},
	}
	for _, tt := range mismatches {
		t.Run("denied by the signer though the apiserver let it through: "+tt.name, func(t *testing.T) {
			pcr := c.k.PodCertificateRequest(t, web, signerName, ecKey(t))
			tt.mutate(pcr)
			// An administrator is not held to NodeRestriction; the signer checks for itself.
			created, err := c.k.Client.CertificatesV1().PodCertificateRequests("shop").Create(context.Background(), pcr, metav1.CreateOptions{})
			if err != nil {
				t.Fatal(err)
			}
			_, cond := c.k.AwaitPodCertificateAnswer(t, "shop", created.Name, 30*time.Second)
			if cond.Type != certsv1.PodCertificateRequestConditionTypeDenied || cond.Reason != ReasonPodMismatch {
				t.Fatalf("answer %s %s (%s), want Denied %s", cond.Type, cond.Reason, cond.Message, ReasonPodMismatch)
			}
		})
	}

	t.Run("denied: a pod being deleted", func(t *testing.T) {
		p := c.pod(t, "shop", "leaving", "web", "node-1", signerName, nil)
		// With no kubelet to confirm, a graceful delete leaves the pod terminating.
		if err := c.k.Client.CoreV1().Pods("shop").Delete(context.Background(), p.Name, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		_, cond := c.request(t, p, signerName, ecKey(t), nil)
		if cond.Type != certsv1.PodCertificateRequestConditionTypeDenied || cond.Reason != ReasonPodTerminating {
			t.Fatalf("answer %s %s (%s), want Denied %s", cond.Type, cond.Reason, cond.Message, ReasonPodTerminating)
		}
	})

	c.template(t, "broken", map[string]any{
		"spiffeIDTemplate": "spiffe://{{ .TrustDomain }}/{{ .PodMeta.NoSuchField }}",
		"podSelector":      map[string]any{"matchLabels": map[string]any{"app": "broken"}},
		"podCertificates":  true,
	})
	c.template(t, "ip-as-dns", map[string]any{
		"spiffeIDTemplate": "spiffe://{{ .TrustDomain }}/ip",
		"podSelector":      map[string]any{"matchLabels": map[string]any{"app": "ip"}},
		"dnsNameTemplates": []any{"10.0.0.1"},
		"podCertificates":  true,
	})
	s.awaitTemplate(t, "broken")
	s.awaitTemplate(t, "ip-as-dns")
	failures := []struct{ name, app, template, detail string }{
		{"a field the pod does not have", "broken", "IdentityTemplate broken", "NoSuchField"},
		{"an IP address as a DNS name", "ip", "IdentityTemplate ip-as-dns", "reads as an IP address"},
	}
	for _, tt := range failures {
		t.Run("failed: the selecting template renders "+tt.name, func(t *testing.T) {
			p := c.pod(t, "shop", tt.app+"-1", "web", "node-1", signerName, map[string]string{"app": tt.app})
			_, cond := c.request(t, p, signerName, ecKey(t), nil)
			if cond.Type != certsv1.PodCertificateRequestConditionTypeFailed || cond.Reason != ReasonTemplateFailed ||
				!strings.Contains(cond.Message, tt.template) || !strings.Contains(cond.Message, tt.detail) {
				t.Fatalf("answer %s %s (%s), want Failed %s naming %q and %q", cond.Type, cond.Reason, cond.Message, ReasonTemplateFailed, tt.template, tt.detail)
			}
		})
	}

	t.Run("every stored answer is counted", func(t *testing.T) {
		if got := s.answers("issued"); got != 2 {
			t.Errorf("issued %d, want 2", got)
		}
		if got := s.answers("denied"); got != 2+len(mismatches)+1 {
			t.Errorf("denied %d, want %d", got, 2+len(mismatches)+1)
		}
		if got := s.answers("failed"); got != len(failures) {
			t.Errorf("failed %d, want %d", got, len(failures))
		}
	})

	t.Run("without a default identity, only pods an opted-in template selects are issued", func(t *testing.T) {
		const only = "lanyard.dev/templates-only"
		strict := c.runSigner(t, c.newCA(t, "s-strict"), func(cfg *Config) { cfg.SignerName, cfg.DefaultIDTemplate = only, "" })
		plain := c.pod(t, "shop", "plain", "web", "node-1", only, nil)
		_, cond := c.request(t, plain, only, ecKey(t), nil)
		if cond.Type != certsv1.PodCertificateRequestConditionTypeDenied || cond.Reason != ReasonNoIdentity {
			t.Fatalf("answer %s %s (%s), want Denied %s", cond.Type, cond.Reason, cond.Message, ReasonNoIdentity)
		}
		selected := c.pod(t, "shop", "api-2", "web", "node-1", only, map[string]string{"app": "api"})
		strict.awaitTemplate(t, "api")
		pcr, cond := c.request(t, selected, only, ecKey(t), nil)
		if cond.Type != certsv1.PodCertificateRequestConditionTypeIssued || chain(t, pcr)[0].URIs[0].Path != "/api/api-2" {
			t.Fatalf("answer %s %s (%s), want Issued /api/api-2", cond.Type, cond.Reason, cond.Message)
		}
	})
}
