package cli

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/bundle/spiffebundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	bundlev1 "github.com/spiffe/spire-api-sdk/proto/spire/api/server/bundle/v1"
	entryv1 "github.com/spiffe/spire-api-sdk/proto/spire/api/server/entry/v1"
	"github.com/spiffe/spire-api-sdk/proto/spire/api/types"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// newCA makes a real self-signed CA certificate for trust domain td.
func newCA(t *testing.T, td string) *x509.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: td},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
		URIs: []*url.URL{{Scheme: "spiffe", Host: td}},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

func newJWTKey(t *testing.T) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func pemOf(certs ...*x509.Certificate) string {
	var buf bytes.Buffer
	for _, c := range certs {
		_ = pem.Encode(&buf, &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
	}
	return buf.String()
}

func TestBundleShow(t *testing.T) {
	h := newHarness(t)
	own, err := h.api().bundles.GetBundle(t.Context(), &bundlev1.GetBundleRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if len(own.X509Authorities) == 0 || len(own.JwtAuthorities) == 0 {
		t.Fatalf("the server's bundle has no authorities: %v", own)
	}
	var cas []*x509.Certificate
	for _, a := range own.X509Authorities {
		c, err := x509.ParseCertificate(a.Asn1)
		if err != nil {
			t.Fatal(err)
		}
		cas = append(cas, c)
	}

	t.Run("the default format is the CA certificates as PEM", func(t *testing.T) {
		r := h.run("bundle", "show").wantOK(t)
		if r.stdout != pemOf(cas...) {
			t.Errorf("stdout:\n%s\nwant the CA as PEM", r.stdout)
		}
	})
	t.Run("-format spiffe is a SPIFFE bundle with X.509 and JWT authorities", func(t *testing.T) {
		r := h.run("bundle", "show", "-format", "spiffe").wantOK(t)
		sb, err := spiffebundle.Parse(spiffeid.RequireTrustDomainFromString(testTrustDomain), []byte(r.stdout))
		if err != nil {
			t.Fatalf("output is not a SPIFFE bundle: %v\n%s", err, r.stdout)
		}
		if certs := sb.X509Authorities(); len(certs) != len(cas) || !certs[0].Equal(cas[0]) {
			t.Errorf("X.509 authorities %v", certs)
		}
		jwtKey := own.JwtAuthorities[0]
		key, ok := sb.FindJWTAuthority(jwtKey.KeyId)
		der, _ := x509.MarshalPKIXPublicKey(key)
		if !ok || !bytes.Equal(der, jwtKey.PublicKey) {
			t.Errorf("JWT authority %s missing or different", jwtKey.KeyId)
		}
		hint, _ := sb.RefreshHint()
		seq, _ := sb.SequenceNumber()
		if hint != time.Duration(own.RefreshHint)*time.Second || seq != own.SequenceNumber {
			t.Errorf("refresh hint %v, sequence %d; the server has %d s, %d", hint, seq, own.RefreshHint, own.SequenceNumber)
		}
	})
	t.Run("json output is the bundle in the API's JSON form", func(t *testing.T) {
		r := h.run("bundle", "show", "-output", "json").wantOK(t)
		var b types.Bundle
		if err := protojson.Unmarshal([]byte(r.stdout), &b); err != nil || !proto.Equal(&b, own) {
			t.Errorf("json %q: %v", r.stdout, err)
		}
	})
}

func TestBundleSet(t *testing.T) {
	other := newCA(t, "other.org")
	jwtKey := newJWTKey(t)
	sb := spiffebundle.New(spiffeid.RequireTrustDomainFromString("other.org"))
	sb.AddX509Authority(other)
	pub, _ := x509.ParsePKIXPublicKey(jwtKey)
	if err := sb.AddJWTAuthority("kid9", pub); err != nil {
		t.Fatal(err)
	}
	sb.SetRefreshHint(time.Minute)
	sb.SetSequenceNumber(3)
	jwks, err := sb.Marshal()
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name  string
		args  func(t *testing.T) []string
		stdin string
		want  *types.Bundle
	}{
		{
			name: "a PEM file becomes the X.509 authorities",
			args: func(t *testing.T) []string {
				return []string{"-id", "spiffe://other.org", "-path", writeFile(t, "b.pem", pemOf(other))}
			},
			want: &types.Bundle{TrustDomain: "other.org", X509Authorities: []*types.X509Certificate{{Asn1: other.Raw}}},
		},
		{
			name:  "without -path the PEM is read from standard input",
			args:  func(*testing.T) []string { return []string{"-id", "other.org"} },
			stdin: pemOf(other),
			want:  &types.Bundle{TrustDomain: "other.org", X509Authorities: []*types.X509Certificate{{Asn1: other.Raw}}},
		},
		{
			name: "a SPIFFE bundle keeps its JWT keys, refresh hint and sequence number",
			args: func(t *testing.T) []string {
				return []string{"-id", "other.org", "-format", "spiffe", "-path", writeFile(t, "b.json", string(jwks))}
			},
			want: &types.Bundle{
				TrustDomain: "other.org", RefreshHint: 60, SequenceNumber: 3,
				X509Authorities: []*types.X509Certificate{{Asn1: other.Raw}},
				JwtAuthorities:  []*types.JWTKey{{KeyId: "kid9", PublicKey: jwtKey}},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			r := h.runStdin(tt.stdin, append([]string{"bundle", "set"}, tt.args(t)...)...).wantOK(t)
			if r.stdout != "Bundle set.\n" {
				t.Errorf("stdout %q", r.stdout)
			}
			got, err := h.api().bundles.GetFederatedBundle(t.Context(), &bundlev1.GetFederatedBundleRequest{TrustDomain: "other.org"})
			if err != nil {
				t.Fatal(err)
			}
			if d := diffProto(tt.want, got); d != "" {
				t.Error(d)
			}
		})
	}

	failures := []struct {
		name string
		args []string
		want string
	}{
		{"the server's per-item refusal is reported", []string{"-id", testTrustDomain, "-path", "CERT"},
			"Error: bundle set: example.org: InvalidArgument: "},
		{"a file without certificates is rejected before any call", []string{"-id", "other.org", "-path", "EMPTY"},
			"no PEM certificates found"},
		{"a PEM file given as -format spiffe is rejected", []string{"-id", "other.org", "-path", "CERT", "-format", "spiffe"},
			"not a SPIFFE bundle (JWKS) document"},
	}
	for _, tt := range failures {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			files := map[string]string{"CERT": writeFile(t, "b.pem", pemOf(other)), "EMPTY": writeFile(t, "e.pem", "hello\n")}
			args := append([]string{"bundle", "set"}, tt.args...)
			for i, a := range args {
				if f, ok := files[a]; ok {
					args[i] = f
				}
			}
			h.run(args...).wantError(t, tt.want)
		})
	}
}

func TestBundleListAndDelete(t *testing.T) {
	h := newHarness(t)
	a, b, c := h.addFederatedBundle("a.org"), h.addFederatedBundle("b.org"), h.addFederatedBundle("c.org")

	t.Run("list prints every federated bundle with a header each", func(t *testing.T) {
		r := h.run("bundle", "list").wantOK(t)
		want := "# trust domain: a.org\n" + pemOf(a) + "\n# trust domain: b.org\n" + pemOf(b) + "\n# trust domain: c.org\n" + pemOf(c)
		if r.stdout != want {
			t.Errorf("stdout:\n%s\nwant:\n%s", r.stdout, want)
		}
	})
	t.Run("list -id prints that bundle alone", func(t *testing.T) {
		r := h.run("bundle", "list", "-id", "spiffe://b.org").wantOK(t)
		if r.stdout != pemOf(b) {
			t.Errorf("stdout:\n%s", r.stdout)
		}
	})
	t.Run("list -output json holds every bundle", func(t *testing.T) {
		r := h.run("bundle", "list", "-output", "json").wantOK(t)
		var resp bundlev1.ListFederatedBundlesResponse
		if err := protojson.Unmarshal([]byte(r.stdout), &resp); err != nil || len(resp.Bundles) != 3 {
			t.Errorf("json %q: %v", r.stdout, err)
		}
	})
	t.Run("count includes the server's own bundle", func(t *testing.T) {
		if r := h.run("bundle", "count").wantOK(t); r.stdout != "4 bundles\n" {
			t.Errorf("stdout %q", r.stdout)
		}
	})
	fedEntry := func(td string) *types.Entry {
		return h.addEntries(&types.Entry{SpiffeId: id(testTrustDomain, "/fed/"+td), ParentId: id(testTrustDomain, "/a"),
			Selectors: []*types.Selector{sel("unix", "uid:1")}, FederatesWith: []string{td}})[0]
	}
	federatesWith := func(entryID string) []string {
		e, err := h.api().entries.GetEntry(t.Context(), &entryv1.GetEntryRequest{Id: entryID})
		if err != nil {
			t.Fatal(err)
		}
		return e.FederatesWith
	}
	t.Run("delete -mode dissociate deletes the bundle and takes it off entries", func(t *testing.T) {
		e := fedEntry("a.org")
		r := h.run("bundle", "delete", "-id", "spiffe://a.org", "-mode", "dissociate").wantOK(t)
		if r.stdout != "Bundle deleted.\n" {
			t.Errorf("stdout %q", r.stdout)
		}
		h.run("bundle", "list", "-id", "a.org").wantError(t, "NotFound")
		if got := federatesWith(e.Id); len(got) != 0 {
			t.Errorf("the entry still federates with %v", got)
		}
	})
	t.Run("delete defaults to restrict: a bundle entries federate with stays", func(t *testing.T) {
		e := fedEntry("b.org")
		h.run("bundle", "delete", "-id", "b.org").wantError(t, "Error: bundle delete: b.org: FailedPrecondition: ")
		h.run("bundle", "list", "-id", "b.org").wantOK(t)
		if got := federatesWith(e.Id); len(got) != 1 {
			t.Errorf("the entry federates with %v, want b.org", got)
		}
	})
	t.Run("delete reports an unknown bundle", func(t *testing.T) {
		h.run("bundle", "delete", "-id", "zzz.org").wantError(t, "Error: bundle delete: zzz.org: NotFound: ")
	})
	t.Run("list -id of an unknown trust domain shows the server's status", func(t *testing.T) {
		h.run("bundle", "list", "-id", "zzz.org").wantError(t, `Error: bundle list zzz.org: NotFound: `)
	})
}

func TestHealthcheck(t *testing.T) {
	h := newHarness(t)
	tests := []struct {
		name   string
		args   []string
		stdout string
	}{
		{"a serving server is healthy", nil, "Server is healthy.\n"},
		{"-verbose prints the status first", []string{"-verbose"}, "Health status: SERVING\nServer is healthy.\n"},
		{"-shallow of a serving server", []string{"-shallow"}, "Server is healthy.\n"},
		{"-output json is the gRPC health answer", []string{"-output", "json"}, `{"status":"SERVING"}` + "\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if r := h.run(append([]string{"healthcheck"}, tt.args...)...).wantOK(t); r.stdout != tt.stdout {
				t.Errorf("stdout %q, want %q", r.stdout, tt.stdout)
			}
		})
	}
	t.Run("a stopped server is reported in words", func(t *testing.T) {
		r := runCLI("", "healthcheck", "-socketPath", "/nonexistent/lanyard/admin.sock")
		r.wantError(t, "is lanyard-server running?")
		if strings.Contains(r.stderr, "rpc error") {
			t.Errorf("raw gRPC error leaked: %q", r.stderr)
		}
	})
}
