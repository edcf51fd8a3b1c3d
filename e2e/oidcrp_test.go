package e2e

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/lanyard-dev/lanyard/e2e/k8stest"
	"github.com/lanyard-dev/lanyard/internal/freeport"
	"github.com/lanyard-dev/lanyard/internal/testca"
)

const (
	uidRPReader   = 41401 // rp.example's workload bound to a Role
	uidRPShort    = 41402 // rp.example's workload with 5-second JWT-SVIDs
	uidRPIntruder = 41403 // intruder.example's workload, whose tokens claim rp.example's issuer
	rpAudience    = "kubernetes"
)

// oidcTLS writes a CA and a serving certificate for 127.0.0.1 issued by it into dir, and
// returns the CA (PEM) and the certificate and key file paths.
func oidcTLS(t *testing.T, dir string) (caPEM []byte, certFile, keyFile string) {
	t.Helper()
	notAfter := time.Now().Add(24 * time.Hour)
	ca, caKey := testca.New(t, "OIDC test CA", nil, nil, notAfter)
	cert, key := testca.Serving(t, ca, caKey, notAfter, net.IPv4(127, 0, 0, 1))
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "oidc.crt"), filepath.Join(dir, "oidc.key")
	writeFile(t, certFile, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw})))
	writeFile(t, keyFile, string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})))
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Raw}), certFile, keyFile
}

// authenticationConfig writes kube-apiserver's structured authentication configuration
// trusting JWT-SVIDs of trust domain td from issuer, with the SPIFFE ID as the user name.
// It is the configuration the README gives for clusters elsewhere.
func authenticationConfig(t *testing.T, dir, issuer, td string, caPEM []byte) string {
	t.Helper()
	cfg := map[string]any{
		"apiVersion": "apiserver.config.k8s.io/v1",
		"kind":       "AuthenticationConfiguration",
		"jwt": []any{map[string]any{
			"issuer": map[string]any{"url": issuer, "audiences": []string{rpAudience}, "certificateAuthority": string(caPEM)},
			"claimValidationRules": []any{map[string]any{
				"expression": fmt.Sprintf("claims.sub.startsWith('spiffe://%s/')", td),
				"message":    "the subject is not a SPIFFE ID of " + td,
			}},
			"claimMappings": map[string]any{"username": map[string]any{"claim": "sub", "prefix": ""}},
		}},
	}
	data, err := json.Marshal(cfg) // JSON is YAML
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "authentication.yaml")
	writeFile(t, path, string(data))
	return path
}

// bearer is a client of c authenticating with token only.
func bearer(t *testing.T, c *k8stest.Cluster, token string) kubernetes.Interface {
	t.Helper()
	cfg := rest.AnonymousClientConfig(c.RESTConfig)
	cfg.BearerToken = token
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

// whoami asks the apiserver who token authenticates as (SelfSubjectReview).
func whoami(t *testing.T, c *k8stest.Cluster, token string) (string, error) {
	t.Helper()
	r, err := bearer(t, c, token).AuthenticationV1().SelfSubjectReviews().Create(t.Context(), &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
	if err != nil {
		return "", err
	}
	return r.Status.UserInfo.Username, nil
}

// jwtHeaderAndClaims decodes a compact JWS's header and payload without verifying it.
func jwtHeaderAndClaims(t *testing.T, token string) (kid string, exp time.Time) {
	t.Helper()
	parts := strings.Split(strings.TrimSpace(token), ".")
	if len(parts) != 3 {
		t.Fatalf("not a compact JWS: %q", token)
	}
	var h struct {
		Kid string `json:"kid"`
	}
	var c struct {
		Exp int64 `json:"exp"`
	}
	for i, v := range []any{&h, &c} {
		raw, err := base64.RawURLEncoding.DecodeString(parts[i])
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(raw, v); err != nil {
			t.Fatal(err)
		}
	}
	return h.Kid, time.Unix(c.Exp, 0)
}

// jwksKids lists the key IDs the OIDC endpoint publishes.
func jwksKids(t *testing.T, issuer string, caPEM []byte) []string {
	t.Helper()
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	defer client.CloseIdleConnections()
	resp, err := client.Get(issuer + "/keys")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var set struct {
		Keys []struct {
			Kid string `json:"kid"`
		} `json:"keys"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&set); err != nil {
		t.Fatal(err)
	}
	var kids []string
	for _, k := range set.Keys {
		kids = append(kids, k.Kid)
	}
	return kids
}

// TestKubeAPIServerAuthenticatesJWTSVIDs uses a real kube-apiserver as the relying party
// of Lanyard's OIDC issuer (HTTPS), configured through structured authentication: a
// workload's JWT-SVID from a real agent is a bearer token whose SPIFFE ID is the user
// name RBAC authorizes; other audiences, expired tokens and another trust domain's
// tokens are refused, and tokens signed after a JWT key rotation authenticate at once.
func TestKubeAPIServerAuthenticatesJWTSVIDs(t *testing.T) {
	requireRoot(t)
	k8stest.BinDir(t, "etcd", "kube-apiserver") // skip before starting anything
	dir := sharedDir(t)
	caPEM, certFile, keyFile := oidcTLS(t, dir)
	port := freeport.Loopback(t)
	issuer := fmt.Sprintf("https://127.0.0.1:%d", port)
	a := newDomainWith(t, "rp.example", fmt.Sprintf("oidc:\n  address: 127.0.0.1:%d\n  cert_file: %s\n  key_file: %s\n", port, certFile, keyFile))
	// Another trust domain whose JWT-SVIDs claim rp.example's issuer: only the keys
	// tell them apart.
	b := newDomainWith(t, "intruder.example", "jwt_issuer: "+issuer+"\n")
	for _, d := range []*domain{a, b} {
		d.startServer()
		d.startAgent()
	}
	a.entry("reader", uidRPReader)
	a.entry("short", uidRPShort, "-jwtSVIDTTL", "5")
	b.entry("reader", uidRPIntruder)

	c := k8stest.StartWith(t, k8stest.Options{APIServerArgs: []string{
		"--authentication-config=" + authenticationConfig(t, dir, issuer, a.td, caPEM)}})
	ctx := t.Context()
	if _, err := c.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Client.RbacV1().Roles("team").Create(ctx, &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "configmap-reader"},
		Rules: []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"get", "list"}}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Client.RbacV1().RoleBindings("team").Create(ctx, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "reader"},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "configmap-reader"},
		Subjects: []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: a.id("reader")}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	fetch := func(t *testing.T, d *domain, uid int, audience string) string {
		t.Helper()
		out, err := d.runWorkload(uid, "jwt", "-audience", audience)
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(out)
	}

	t.Run("the SPIFFE ID is the user name", func(t *testing.T) {
		token := fetch(t, a, uidRPReader, rpAudience)
		// The apiserver discovers the issuer in the background after it starts.
		var user string
		var err error
		eventually(t, 60*time.Second, "the apiserver's JWT authenticator to accept the JWT-SVID", func() bool {
			user, err = whoami(t, c, token)
			return err == nil
		})
		if user != a.id("reader") {
			t.Fatalf("SelfSubjectReview user = %q, want %q", user, a.id("reader"))
		}
	})

	t.Run("RBAC bound to the SPIFFE ID allows what the Role grants and nothing else", func(t *testing.T) {
		cs := bearer(t, c, fetch(t, a, uidRPReader, rpAudience))
		if _, err := cs.CoreV1().ConfigMaps("team").List(ctx, metav1.ListOptions{}); err != nil {
			t.Fatalf("listing configmaps in team: %v", err)
		}
		if _, err := cs.CoreV1().ConfigMaps("default").List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
			t.Fatalf("listing configmaps in default: %v, want 403", err)
		}
		if _, err := cs.CoreV1().Secrets("team").List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
			t.Fatalf("listing secrets in team: %v, want 403", err)
		}
	})

	t.Run("a token for another audience is refused", func(t *testing.T) {
		if _, err := whoami(t, c, fetch(t, a, uidRPReader, "vault")); !apierrors.IsUnauthorized(err) {
			t.Fatalf("JWT-SVID for audience vault: %v, want 401", err)
		}
	})

	t.Run("a token from another trust domain claiming the issuer is refused", func(t *testing.T) {
		token := fetch(t, b, uidRPIntruder, rpAudience)
		if _, err := whoami(t, c, token); !apierrors.IsUnauthorized(err) {
			t.Fatalf("intruder.example's JWT-SVID: %v, want 401", err)
		}
	})

	t.Run("an expired token is refused; a fresh one of the same workload is not", func(t *testing.T) {
		// Not presented before it expires: the apiserver caches successful
		// authentications for a few seconds.
		token := fetch(t, a, uidRPShort, rpAudience)
		_, exp := jwtHeaderAndClaims(t, token)
		eventually(t, 30*time.Second, "the 5-second JWT-SVID to expire", func() bool { return time.Now().After(exp.Add(time.Second)) })
		if _, err := whoami(t, c, token); !apierrors.IsUnauthorized(err) {
			t.Fatalf("expired JWT-SVID: %v, want 401", err)
		}
		fresh := fetch(t, a, uidRPShort, rpAudience)
		if user, err := whoami(t, c, fresh); err != nil || user != a.id("short") {
			t.Fatalf("fresh JWT-SVID: %q, %v; want %s", user, err, a.id("short"))
		}
	})

	t.Run("after a JWT key rotation new tokens authenticate at once", func(t *testing.T) {
		oldToken := fetch(t, a, uidRPReader, rpAudience)
		if _, err := whoami(t, c, oldToken); err != nil {
			t.Fatalf("before the rotation: %v", err)
		}
		old, _ := jwtHeaderAndClaims(t, oldToken)
		prepared := firstAuthorityID(t, a.cli("localauthority", "jwt", "prepare"), "Prepared JWT authority:")
		if kids := jwksKids(t, issuer, caPEM); !slices.Contains(kids, prepared) || !slices.Contains(kids, old) {
			t.Fatalf("the OIDC endpoint publishes %v before activation, want both the active key %s and the prepared %s", kids, old, prepared)
		}
		a.cli("localauthority", "jwt", "activate", "-authorityID", prepared)
		// Tainting the old key makes the agent drop the tokens it signed.
		a.cli("localauthority", "jwt", "taint", "-authorityID", old)
		var token string
		eventually(t, 30*time.Second, "a JWT-SVID signed by the new key", func() bool {
			token = fetch(t, a, uidRPReader, rpAudience)
			kid, _ := jwtHeaderAndClaims(t, token)
			return kid == prepared
		})
		// One attempt: a relying party that refused the first token of a new key would
		// fail workloads for as long as it keeps its cached keys.
		if user, err := whoami(t, c, token); err != nil || user != a.id("reader") {
			t.Fatalf("the first JWT-SVID of the new key: %q, %v; want %s", user, err, a.id("reader"))
		}
	})
}
