package server

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"net/url"
	"strings"
	"testing"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	entryv1 "github.com/spiffe/spire-api-sdk/proto/spire/api/server/entry/v1"
	svidv1 "github.com/spiffe/spire-api-sdk/proto/spire/api/server/svid/v1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func TestEntriesWithUnprintableSelectorsOrIPDNSNamesAreRefused(t *testing.T) {
	ts := startServer(t, newConfig(t))
	parent := spiffeid.RequireFromString("spiffe://example.org/spire/agent/join_token/x")
	tests := []struct {
		name    string
		sel     string
		dns     string
		wantMsg string
	}{
		{"a newline in a selector value would print as a second selector", "unix:uid:1\nunix:uid:0", "", `"unix:uid:1\nunix:uid:0"`},
		{"a carriage return in a selector value is refused", "unix:uid:1\rx", "", "control character"},
		{"an escape sequence in a selector value is refused", "k8s:ns:\x1b[2Jdefault", "", "control character"},
		{"an IPv4 address as a DNS name is refused", "unix:uid:1", "10.0.0.1", "IP address"},
		{"a short numeric form clients parse as IPv4 is refused", "unix:uid:1", "10.1", "IP address"},
		{"an IPv6 address as a DNS name is refused", "unix:uid:1", "::1", "IP address"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := entry("/e"+string(rune('a'+i)), parent, tt.sel)
			if tt.dns != "" {
				e.DnsNames = []string{tt.dns}
			}
			res := ts.createEntries(e)[0]
			if codes.Code(res.Status.Code) != codes.InvalidArgument || !strings.Contains(res.Status.Message, tt.wantMsg) {
				t.Fatalf("got %v %q, want InvalidArgument mentioning %q", codes.Code(res.Status.Code), res.Status.Message, tt.wantMsg)
			}
		})
	}
	n, err := entryv1.NewEntryClient(ts.admin).CountEntries(context.Background(), &entryv1.CountEntriesRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if n.Count != 0 {
		t.Fatalf("%d entries were stored; every one was invalid", n.Count)
	}
	// A good neighbour still passes, so the checks are not too broad.
	good := entry("/good", parent, "k8s:ns:default")
	good.DnsNames = []string{"web.example.org", "a1.b2.example.org"}
	if res := ts.createEntries(good)[0]; codes.Code(res.Status.Code) != codes.OK {
		t.Fatalf("good entry refused: %v", res.Status)
	}
}

func TestX509MintRefusesAnIPAddressAsDNSName(t *testing.T) {
	ts := startServer(t, newConfig(t))
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	id := spiffeid.RequireFromString("spiffe://example.org/web")
	csr, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		URIs: []*url.URL{id.URL()}, DNSNames: []string{"192.168.1.10"},
	}, key)
	if err != nil {
		t.Fatal(err)
	}
	_, err = svidv1.NewSVIDClient(ts.admin).MintX509SVID(context.Background(), &svidv1.MintX509SVIDRequest{Csr: csr})
	if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "192.168.1.10") || !strings.Contains(err.Error(), "IP address") {
		t.Fatalf("MintX509SVID with an IP as DNS name: %v; want InvalidArgument naming it", err)
	}
}
