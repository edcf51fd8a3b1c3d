package cli

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// partnerCAFile writes a PEM CA certificate for partner.org and returns its path.
func partnerCAFile(t *testing.T) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "partner CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign, URIs: []*url.URL{{Scheme: "spiffe", Host: "partner.org"}}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "partner.pem")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestFederationCommands(t *testing.T) {
	h := newHarness(t)
	caFile := partnerCAFile(t)
	// A closed port: refreshes fail fast.
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	endpoint := "https://" + ln.Addr().String() + "/"
	ln.Close()

	t.Run("create prints the relationship with its bootstrap bundle", func(t *testing.T) {
		r := h.run("federation", "create", "-trustDomain", "partner.org", "-bundleEndpointURL", endpoint,
			"-endpointSpiffeID", "spiffe://partner.org/spire/server", "-trustDomainBundlePath", caFile).wantOK(t)
		for _, want := range []string{"partner.org", endpoint, "https_spiffe", "spiffe://partner.org/spire/server", "1 X.509"} {
			mustContain(t, r.stdout, want)
		}
	})
	t.Run("https_spiffe without an endpoint ID is refused before calling the server", func(t *testing.T) {
		h.run("federation", "create", "-trustDomain", "other.org", "-bundleEndpointURL", endpoint).wantError(t, "-endpointSpiffeID is required")
	})
	t.Run("the server's validation message reaches the user", func(t *testing.T) {
		h.run("federation", "create", "-trustDomain", "other.org", "-bundleEndpointURL", "http://other.org",
			"-bundleEndpointProfile", "https_web").wantError(t, "InvalidArgument")
	})
	t.Run("a second create for the same trust domain fails", func(t *testing.T) {
		h.run("federation", "create", "-trustDomain", "partner.org", "-bundleEndpointURL", endpoint,
			"-bundleEndpointProfile", "https_web").wantError(t, "AlreadyExists")
	})
	t.Run("list and show", func(t *testing.T) {
		mustContain(t, h.run("federation", "list").wantOK(t).stdout, "Found 1 federation relationship")
		mustContain(t, h.run("federation", "show", "-trustDomain", "spiffe://partner.org").wantOK(t).stdout, "https_spiffe")
	})
	t.Run("update switches the profile", func(t *testing.T) {
		r := h.run("federation", "update", "-trustDomain", "partner.org", "-bundleEndpointURL", endpoint,
			"-bundleEndpointProfile", "https_web").wantOK(t)
		mustContain(t, r.stdout, "https_web")
	})
	t.Run("refresh reports an unreachable endpoint", func(t *testing.T) {
		h.run("federation", "refresh", "-id", "partner.org").wantError(t, "Unavailable")
	})
	t.Run("delete, after which show is NotFound", func(t *testing.T) {
		mustContain(t, h.run("federation", "delete", "-id", "partner.org").wantOK(t).stdout, "deleted")
		h.run("federation", "show", "-trustDomain", "partner.org").wantError(t, "NotFound")
	})
}

func mustContain(t *testing.T, s, want string) {
	t.Helper()
	if !strings.Contains(s, want) {
		t.Fatalf("output lacks %q:\n%s", want, s)
	}
}
