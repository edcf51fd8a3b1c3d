package workloadapi

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	secretv3 "github.com/envoyproxy/go-control-plane/envoy/service/secret/v3"
	"github.com/spiffe/go-spiffe/v2/bundle/spiffebundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/lanyard-dev/lanyard/agent/cache"
)

// sdsClient is Envoy's side of SDS: a plain gRPC client on the socket, without the
// Workload API's security header.
func sdsClient(t *testing.T, e *env) secretv3.SecretDiscoveryServiceClient {
	t.Helper()
	conn, err := grpc.NewClient("unix://"+e.socket, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return secretv3.NewSecretDiscoveryServiceClient(conn)
}

func secrets(t *testing.T, resp *discoveryv3.DiscoveryResponse) map[string]*tlsv3.Secret {
	t.Helper()
	out := map[string]*tlsv3.Secret{}
	for _, a := range resp.Resources {
		s := &tlsv3.Secret{}
		if err := a.UnmarshalTo(s); err != nil {
			t.Fatal(err)
		}
		out[s.Name] = s
	}
	return out
}

// leafOf checks a TLS secret's chain and key belong together and returns the leaf.
func leafOf(t *testing.T, s *tlsv3.Secret) *x509.Certificate {
	t.Helper()
	tc := s.GetTlsCertificate()
	if tc == nil {
		t.Fatalf("secret %s is not a TLS certificate", s.Name)
	}
	pair, err := tls.X509KeyPair(tc.CertificateChain.GetInlineBytes(), tc.PrivateKey.GetInlineBytes())
	if err != nil {
		t.Fatalf("secret %s: chain and key do not match: %v", s.Name, err)
	}
	leaf, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	return leaf
}

func TestSDSStreamsSecretsToEnvoy(t *testing.T) {
	e := start(t)
	e.add("e1", "spiffe://example.org/web", nil, selfUID)
	stream, err := sdsClient(t, e).StreamSecrets(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	names := []string{"spiffe://example.org/web", "ROOTCA", "spiffe://example.org", "ALL"}
	req := &discoveryv3.DiscoveryRequest{Node: &corev3.Node{Id: "envoy-1"}, TypeUrl: secretTypeURL, ResourceNames: names}
	if err := stream.Send(req); err != nil {
		t.Fatal(err)
	}
	first, err := stream.Recv()
	if err != nil {
		t.Fatalf("first SDS response: %v", err)
	}
	got := secrets(t, first)
	leaf := leafOf(t, got["spiffe://example.org/web"])
	if len(leaf.URIs) != 1 || leaf.URIs[0].String() != "spiffe://example.org/web" {
		t.Fatalf("TLS secret names %v", leaf.URIs)
	}
	for _, n := range []string{"ROOTCA", "spiffe://example.org"} {
		block, _ := pem.Decode(got[n].GetValidationContext().GetTrustedCa().GetInlineBytes())
		if block == nil || string(block.Bytes) != string(e.ca.cert.Raw) {
			t.Fatalf("%s does not carry the trust domain's CA", n)
		}
	}
	if v := got["ALL"].GetValidationContext().GetCustomValidatorConfig(); v == nil || v.Name != spiffeValidator {
		t.Fatalf("ALL is not a SPIFFE validator config: %v", got["ALL"])
	}

	// Envoy ACKs; nothing is sent until something changes, then the rotated SVID is pushed.
	req.VersionInfo, req.ResponseNonce = first.VersionInfo, first.Nonce
	if err := stream.Send(req); err != nil {
		t.Fatal(err)
	}
	rotated := e.ca.svid(t, "e1", "spiffe://example.org/web")
	e.cache.UpdateSVIDs([]*cache.X509SVID{rotated})
	next, err := stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	if next.VersionInfo == first.VersionInfo {
		t.Fatal("a new version was not announced")
	}
	if got := leafOf(t, secrets(t, next)["spiffe://example.org/web"]); got.SerialNumber.Cmp(rotated.SerialNumber) != 0 {
		t.Fatal("the rotated SVID was not pushed")
	}
}

func TestSDSFetchAndRefusals(t *testing.T) {
	e := start(t)
	e.add("e1", "spiffe://example.org/web", nil, selfUID)
	c := sdsClient(t, e)
	resp, err := c.FetchSecrets(ctxT(t), &discoveryv3.DiscoveryRequest{TypeUrl: secretTypeURL, ResourceNames: []string{"default"}})
	if err != nil {
		t.Fatal(err)
	}
	if leaf := leafOf(t, secrets(t, resp)["default"]); leaf.URIs[0].String() != "spiffe://example.org/web" {
		t.Fatalf("default is %v", leaf.URIs)
	}

	t.Run("a caller with no identity is denied", func(t *testing.T) {
		empty := start(t)
		_, err := sdsClient(t, empty).FetchSecrets(ctxT(t), &discoveryv3.DiscoveryRequest{TypeUrl: secretTypeURL})
		if status.Code(err) != codes.PermissionDenied {
			t.Fatalf("error = %v, want PermissionDenied", err)
		}
	})
	t.Run("another resource type is refused", func(t *testing.T) {
		stream, err := c.StreamSecrets(ctxT(t))
		if err != nil {
			t.Fatal(err)
		}
		_ = stream.Send(&discoveryv3.DiscoveryRequest{TypeUrl: "type.googleapis.com/envoy.config.cluster.v3.Cluster"})
		if _, err := stream.Recv(); status.Code(err) != codes.InvalidArgument {
			t.Fatalf("error = %v, want InvalidArgument", err)
		}
	})
}

func TestSDSFederatedBundles(t *testing.T) {
	partner := spiffeid.RequireTrustDomainFromString("partner.test")
	e := start(t)
	p := newAuthority(t, partner)
	e.cache.SetFederatedBundles(map[spiffeid.TrustDomain]*spiffebundle.Bundle{partner: p.bundle()})
	e.add("e1", "spiffe://example.org/web", func(ent *cache.Entry) { ent.FederatesWith = []string{"partner.test"} }, selfUID)
	resp, err := sdsClient(t, e).FetchSecrets(ctxT(t), &discoveryv3.DiscoveryRequest{TypeUrl: secretTypeURL,
		ResourceNames: []string{"spiffe://partner.test", "ALL"}})
	if err != nil {
		t.Fatal(err)
	}
	got := secrets(t, resp)
	block, _ := pem.Decode(got["spiffe://partner.test"].GetValidationContext().GetTrustedCa().GetInlineBytes())
	if block == nil || string(block.Bytes) != string(p.cert.Raw) {
		t.Fatal("the partner's trust domain secret does not carry its CA")
	}
	cfg := &tlsv3.SPIFFECertValidatorConfig{}
	if err := got["ALL"].GetValidationContext().GetCustomValidatorConfig().GetTypedConfig().UnmarshalTo(cfg); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, td := range cfg.TrustDomains {
		names = append(names, td.Name)
	}
	if len(names) != 2 || names[0] != "example.org" || names[1] != "partner.test" {
		t.Fatalf("ALL validates trust domains %v, want example.org and partner.test", names)
	}
}
