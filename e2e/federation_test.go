package e2e

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"

	"github.com/lanyard-dev/lanyard/internal/freeport"
)

const (
	uidFedServer = 41101 // td-a's server workload
	uidFedClient = 41102 // td-b's client workload
)

// federatedDomain is a domain whose server serves its bundle (https_spiffe) on a loopback
// port, with extra configuration.
func federatedDomain(t *testing.T, td, extra string) (*domain, string) {
	port := freeport.Loopback(t)
	d := newDomainWith(t, td, fmt.Sprintf("federation:\n  bundle_endpoint:\n    address: 127.0.0.1\n    port: %d\n    refresh_hint: 2s\n", port)+extra)
	return d, fmt.Sprintf("https://127.0.0.1:%d/", port)
}

// federateWith makes d fetch partner's bundle from its endpoint, bootstrapped with the
// partner's X.509 authorities only (PEM), so JWT authorities arriving prove a fetch.
func (d *domain) federateWith(partner *domain, url string) {
	d.t.Helper()
	path := filepath.Join(d.dir, partner.td+".bundle.pem")
	writeFile(d.t, path, partner.cli("bundle", "show", "-format", "pem"))
	d.cli("federation", "create", "-trustDomain", partner.td, "-bundleEndpointURL", url,
		"-bundleEndpointProfile", "https_spiffe", "-endpointSpiffeID", "spiffe://"+partner.td+"/spire/server",
		"-trustDomainBundlePath", path)
	eventually(d.t, 30*time.Second, partner.td+"'s bundle fetched from its endpoint", func() bool {
		out, err := run(d.t, "lanyard-server", 0, nil, "bundle", "list", "-id", partner.td, "-format", "spiffe", "-socketPath", d.adminSock)
		return err == nil && strings.Contains(out, "jwt-svid")
	})
}

// TestFederatedWorkloadsTalkMTLSAcrossTrustDomains runs two trust domains (two servers, two
// agents) and checks that workloads in each authenticate the other only while the
// federation relationships exist, and that td-a's JWT-SVIDs verify with an OIDC relying
// party through td-a's discovery endpoint.
func TestFederatedWorkloadsTalkMTLSAcrossTrustDomains(t *testing.T) {
	requireRoot(t)
	oidcPort := freeport.Loopback(t)
	issuer := fmt.Sprintf("http://127.0.0.1:%d", oidcPort)
	a, aURL := federatedDomain(t, "td-a.test", fmt.Sprintf("jwt_key_type: rsa-2048\noidc:\n  address: 127.0.0.1:%d\n", oidcPort))
	b, bURL := federatedDomain(t, "td-b.test", "")
	for _, d := range []*domain{a, b} {
		d.startServer()
		d.startAgent()
	}
	// Entries may federate only with trust domains the server knows: these get
	// -federatesWith once the relationships exist.
	serverEntry := a.entry("server", uidFedServer)
	clientEntry := b.entry("client", uidFedClient)
	addr := fmt.Sprintf("127.0.0.1:%d", freeport.Loopback(t))
	server := a.workload(uidFedServer, "serve", "-addr", addr, "-allow", b.id("client"))
	eventually(t, 30*time.Second, "td-a's server listening", func() bool { return strings.Contains(server.Output(), "listening") })
	dial := func() error {
		_, err := b.runWorkload(uidFedClient, "dial", "-addr", addr, "-expect", a.id("server"), "-message", "cross-domain")
		return err
	}

	t.Run("without federation the workloads cannot authenticate each other", func(t *testing.T) {
		// The client has its own SVID; what it lacks is td-a's bundle.
		eventually(t, 30*time.Second, "td-b's client SVID", func() bool {
			out, err := run(t, "lanyard-agent", uidFedClient, nil, "api", "fetch", "x509", "-socketPath", b.socket, "-timeout", "2s")
			return err == nil && strings.Contains(out, b.id("client"))
		})
		err := dial()
		if err == nil {
			t.Fatal("td-b's client completed mTLS with td-a's server before any federation relationship existed")
		}
		if !strings.Contains(err.Error(), "td-a.test") {
			t.Fatalf("dial failed for another reason than the missing td-a.test bundle: %v", err)
		}
	})

	t.Run("an entry federating with a trust domain the server does not know is refused", func(t *testing.T) {
		out, err := run(t, "lanyard-server", 0, nil, "entry", "create", "-socketPath", a.adminSock, "-parentID", a.agentID,
			"-spiffeID", a.id("typo"), "-selector", "unix:uid:4242", "-federatesWith", "td-b.tset")
		if err == nil || !strings.Contains(err.Error(), "td-b.tset") || !strings.Contains(err.Error(), "federation create") {
			t.Fatalf("entry create with an unknown federated trust domain: %v\n%s", err, out)
		}
	})

	t.Run("with relationships both ways mTLS succeeds, each side authorizing the other's ID", func(t *testing.T) {
		a.federateWith(b, bURL)
		b.federateWith(a, aURL)
		a.cli("entry", "update", "-entryID", serverEntry, "-parentID", a.agentID, "-spiffeID", a.id("server"),
			"-selector", fmt.Sprintf("unix:uid:%d", uidFedServer), "-federatesWith", b.td)
		b.cli("entry", "update", "-entryID", clientEntry, "-parentID", b.agentID, "-spiffeID", b.id("client"),
			"-selector", fmt.Sprintf("unix:uid:%d", uidFedClient), "-federatesWith", a.td)
		eventually(t, 60*time.Second, "cross-domain mTLS", func() bool { return dial() == nil })
		eventually(t, 10*time.Second, "td-a's server to see td-b's client", func() bool {
			return strings.Contains(server.Output(), "request from "+b.id("client")+": cross-domain")
		})
		out := a.cli("federation", "show", "-trustDomain", b.td)
		if !strings.Contains(out, "https_spiffe") || strings.Contains(out, "not fetched") {
			t.Fatalf("federation show does not show the fetched relationship:\n%s", out)
		}
	})

	t.Run("the federating workload's X.509 and JWT bundles include the partner's", func(t *testing.T) {
		out, err := a.runWorkload(uidFedServer, "bundles")
		if err != nil {
			t.Fatal(err)
		}
		if want := "x509 td-a.test td-b.test\njwt td-a.test td-b.test\n"; out != want {
			t.Fatalf("bundles:\n%s\nwant:\n%s", out, want)
		}
	})

	t.Run("a JWT-SVID from td-b validates at td-a's Workload API", func(t *testing.T) {
		token, err := b.runWorkload(uidFedClient, "jwt", "-audience", "td-a-server")
		if err != nil {
			t.Fatal(err)
		}
		out, err := a.runWorkload(uidFedServer, "validate", "-audience", "td-a-server", "-token", strings.TrimSpace(token))
		if err != nil || !strings.Contains(out, "valid "+b.id("client")) {
			t.Fatalf("validation at td-a: %q, %v", out, err)
		}
	})

	t.Run("an RS256 JWT-SVID from td-a verifies with an OIDC relying party", func(t *testing.T) {
		token, err := a.runWorkload(uidFedServer, "jwt", "-audience", "cloud")
		if err != nil {
			t.Fatal(err)
		}
		if alg := jwtAlg(t, token); alg != "RS256" {
			t.Fatalf("JWT-SVID alg = %q, want RS256 (jwt_key_type: rsa-2048)", alg)
		}
		ctx := context.Background()
		provider, err := oidc.NewProvider(ctx, issuer)
		if err != nil {
			t.Fatalf("OIDC discovery at %s: %v", issuer, err)
		}
		idToken, err := provider.Verifier(&oidc.Config{ClientID: "cloud"}).Verify(ctx, strings.TrimSpace(token))
		if err != nil {
			t.Fatalf("go-oidc rejected td-a's JWT-SVID: %v", err)
		}
		if idToken.Subject != a.id("server") || idToken.Issuer != issuer {
			t.Fatalf("sub=%q iss=%q, want %s and %s", idToken.Subject, idToken.Issuer, a.id("server"), issuer)
		}
	})

	t.Run("deleting the relationship removes td-b's bundle from td-a's open streams", func(t *testing.T) {
		a.cli("federation", "delete", "-id", b.td)
		var err error
		eventually(t, 60*time.Second, "cross-domain mTLS to fail", func() bool { err = dial(); return err != nil })
		t.Logf("after the delete: %v", err)
		if out, err := a.runWorkload(uidFedServer, "bundles"); err != nil || strings.Contains(out, "td-b.test") {
			t.Fatalf("td-a's workload still gets td-b.test's bundle after the delete: %q, %v", out, err)
		}
		if _, ferr := b.runWorkload(uidFedClient, "jwt", "-audience", "x"); ferr != nil {
			t.Fatalf("td-b's client lost its own identity, so the failure proves nothing: %v", ferr)
		}
	})
}

// jwtAlg returns the alg of a compact JWS's protected header.
func jwtAlg(t *testing.T, token string) string {
	t.Helper()
	head, _, _ := strings.Cut(strings.TrimSpace(token), ".")
	raw, err := base64.RawURLEncoding.DecodeString(head)
	if err != nil {
		t.Fatalf("JWT header: %v", err)
	}
	var h struct {
		Alg string `json:"alg"`
	}
	if err := json.Unmarshal(raw, &h); err != nil {
		t.Fatalf("JWT header: %v", err)
	}
	return h.Alg
}
