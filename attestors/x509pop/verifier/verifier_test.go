package verifier

import (
	"context"
	"crypto"
	"crypto/x509"
	"encoding/json"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/bundle/x509bundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/lanyard-dev/lanyard/attestors"
	"github.com/lanyard-dev/lanyard/attestors/x509pop"
	"github.com/lanyard-dev/lanyard/attestors/x509pop/x509poptest"
)

var td = spiffeid.RequireTrustDomainFromString("example.org")

// answer is the agent's side of the challenge: it signs with key.
func answer(t *testing.T, key crypto.PrivateKey) attestors.Challenge {
	return func(_ context.Context, b []byte) ([]byte, error) {
		c, err := x509pop.ParseChallenge(b)
		if err != nil {
			t.Fatal(err)
		}
		r, err := x509pop.Respond(key, c)
		if err != nil {
			return nil, err
		}
		return json.Marshal(r)
	}
}

func sels(values ...string) []attestors.Selector {
	out := make([]attestors.Selector, len(values))
	for i, v := range values {
		out[i] = attestors.Selector{Type: "x509pop", Value: v}
	}
	return out
}

func TestAttestNamesTheAgentAsSPIREDoes(t *testing.T) {
	root := x509poptest.NewCA(t, "root", nil)
	inter := x509poptest.NewCA(t, "intermediate", root)
	bundle := x509poptest.WriteBundle(t, filepath.Join(t.TempDir(), "ca.pem"), root)
	for _, rsaKey := range []bool{false, true} {
		node := inter.Issue(t, x509poptest.Node{CN: "node1", RSA: rsaKey,
			URIs: []string{"x509pop://example.org/datacenter/us-east-1", "x509pop://other.org/k/v"}}, inter)
		v, err := New(Config{TrustDomain: td, CABundlePaths: []string{bundle}})
		if err != nil {
			t.Fatal(err)
		}
		att, err := v.Attest(context.Background(), node.Payload(t), answer(t, node.Key))
		if err != nil {
			t.Fatalf("RSA=%v: %v", rsaKey, err)
		}
		fp := attestors.CertFingerprint(node.Cert)
		if got, want := att.AgentID.String(), "spiffe://example.org/spire/agent/x509pop/"+fp; got != want || !att.CanReattest {
			t.Fatalf("agent ID %s (reattest %v), want %s and re-attestable", got, att.CanReattest, want)
		}
		want := sels("subject:cn:node1", "ca:fingerprint:"+attestors.CertFingerprint(inter.Cert), "ca:fingerprint:"+attestors.CertFingerprint(root.Cert),
			"serialnumber:"+x509pop.SerialNumberHex(node.Cert.SerialNumber), "san:datacenter:us-east-1")
		if !slices.Equal(att.Selectors, want) {
			t.Fatalf("selectors\n%v\nwant\n%v", att.Selectors, want)
		}
	}
}

func TestAttestRefusals(t *testing.T) {
	root := x509poptest.NewCA(t, "root", nil)
	other := x509poptest.NewCA(t, "someone else's root", nil)
	bundle := x509poptest.WriteBundle(t, filepath.Join(t.TempDir(), "ca.pem"), root)
	now := time.Now()
	good := root.Issue(t, x509poptest.Node{CN: "node1"})
	thief := root.Issue(t, x509poptest.Node{CN: "node1"})
	clk := clocktesting.NewFakeClock(now)
	v, err := New(Config{TrustDomain: td, CABundlePaths: []string{bundle}, Clock: clk, MaxIntermediates: 2})
	if err != nil {
		t.Fatal(err)
	}
	// An answer to an earlier attestation's challenge, replayed.
	var recorded []byte
	record := func(ctx context.Context, b []byte) ([]byte, error) {
		var err error
		recorded, err = answer(t, good.Key)(ctx, b)
		return recorded, err
	}
	if _, err := v.Attest(context.Background(), good.Payload(t), record); err != nil {
		t.Fatal(err)
	}
	inter := x509poptest.NewCA(t, "inter", root)
	for _, tt := range []struct {
		name      string
		payload   []byte
		challenge attestors.Challenge
		want      string
	}{
		{"a certificate of another CA", other.Issue(t, x509poptest.Node{CN: "node1"}).Payload(t), nil,
			`issued by "CN=someone else's root", does not chain to a CA in node_attestors.x509pop.ca_bundle_path(s)`},
		{"an expired certificate", root.Issue(t, x509poptest.Node{CN: "node1", NotAfter: now.Add(-time.Second)}).Payload(t), nil, "expired at"},
		{"a certificate not valid yet", root.Issue(t, x509poptest.Node{CN: "node1", NotBefore: now.Add(time.Hour)}).Payload(t), nil, "is not valid until"},
		{"a certificate without digitalSignature", root.Issue(t, x509poptest.Node{CN: "node1", NoKeyUsage: true}).Payload(t), nil, "lacks digitalSignature"},
		{"an answer signed by another key", good.Payload(t), answer(t, thief.Key), "does not verify"},
		{"a replayed answer", good.Payload(t), func(context.Context, []byte) ([]byte, error) { return recorded, nil }, "does not verify"},
		{"a stale answer", good.Payload(t), func(ctx context.Context, b []byte) ([]byte, error) {
			clk.Step(2 * time.Minute)
			return answer(t, good.Key)(ctx, b)
		}, "is stale"},
		{"an answer that is not JSON", good.Payload(t), func(context.Context, []byte) ([]byte, error) { return []byte("{"), nil }, "challenge response is not JSON"},
		{"an answer with a short nonce", good.Payload(t), func(context.Context, []byte) ([]byte, error) {
			return []byte(`{"ecdsa_signature":{"nonce":"AQ==","r":"AQ==","s":"AQ=="}}`), nil
		}, "nonce is 1 bytes, want 32"},
		{"an RSA answer for an ECDSA key", good.Payload(t), func(context.Context, []byte) ([]byte, error) {
			return []byte(`{"rsa_signature":{"nonce":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=","signature":"AQ=="}}`), nil
		}, "not an ECDSA signature"},
		{"a payload that is not JSON", []byte("garbage"), nil, "payload is not JSON"},
		{"a payload without certificates", []byte(`{"certificates":[]}`), nil, "carries no certificate"},
		{"a payload with a broken certificate", []byte(`{"certificates":["AQ=="]}`), nil, "certificate 0 is not a DER certificate"},
		{"too many intermediates", root.Issue(t, x509poptest.Node{CN: "n"}, inter, inter, inter).Payload(t), nil, "over the server's max_intermediates of 2"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ch := tt.challenge
			if ch == nil {
				ch = answer(t, good.Key)
			}
			_, err := v.Attest(context.Background(), tt.payload, ch)
			clk.SetTime(now)
			if err == nil || !errors.Is(err, attestors.ErrRejected) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error = %v, want a rejection mentioning %q", err, tt.want)
			}
		})
	}
}

func TestAgentPathTemplate(t *testing.T) {
	root := x509poptest.NewCA(t, "root", nil)
	bundle := x509poptest.WriteBundle(t, filepath.Join(t.TempDir(), "ca.pem"), root)
	node := root.Issue(t, x509poptest.Node{CN: "node1", URIs: []string{"x509pop://example.org/rack/r7"}})
	for _, tt := range []struct{ tmpl, want, wantErr string }{
		{"/cn/{{ .Subject.CommonName }}", "spiffe://example.org/spire/agent/cn/node1", ""},
		{"{{ .PluginName }}/{{ .URISanSelectors.rack }}/{{ .SerialNumberHex }}", "spiffe://example.org/spire/agent/x509pop/r7/" + x509pop.SerialNumberHex(node.Cert.SerialNumber), ""},
		{"/x/{{ .URISanSelectors.missing }}", "", "agent_path_template"},
		{"/cn/{{ .Subject.Organization }}", "", "not a SPIFFE ID path"},
	} {
		v, err := New(Config{TrustDomain: td, CABundlePaths: []string{bundle}, AgentPathTemplate: tt.tmpl})
		if err != nil {
			t.Fatal(err)
		}
		att, err := v.Attest(context.Background(), node.Payload(t), answer(t, node.Key))
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("%s: error = %v, want %q", tt.tmpl, err, tt.wantErr)
			}
			continue
		}
		if err != nil || att.AgentID.String() != tt.want {
			t.Fatalf("%s: %v, %v; want %s", tt.tmpl, att, err, tt.want)
		}
	}
}

func TestSPIFFEModeExchangesSVIDsUnderThePrefix(t *testing.T) {
	root := x509poptest.NewCA(t, "server CA", nil)
	b := x509bundle.FromX509Authorities(td, []*x509.Certificate{root.Cert})
	v, err := New(Config{TrustDomain: td, Mode: ModeSPIFFE, Bundle: b})
	if err != nil {
		t.Fatal(err)
	}
	host := root.Issue(t, x509poptest.Node{URIs: []string{"spiffe://example.org/spire-exchange/host1"}})
	att, err := v.Attest(context.Background(), host.Payload(t), answer(t, host.Key))
	if err != nil || att.AgentID.String() != "spiffe://example.org/spire/agent/x509pop/host1" {
		t.Fatalf("%v, %v", att, err)
	}
	outside := root.Issue(t, x509poptest.Node{URIs: []string{"spiffe://example.org/workload"}})
	if _, err := v.Attest(context.Background(), outside.Payload(t), answer(t, outside.Key)); err == nil || !strings.Contains(err.Error(), `not under svid_prefix "/spire-exchange/"`) {
		t.Fatalf("an SVID outside svid_prefix: %v", err)
	}
	plain := root.Issue(t, x509poptest.Node{CN: "no id"})
	if _, err := v.Attest(context.Background(), plain.Payload(t), answer(t, plain.Key)); err == nil || !strings.Contains(err.Error(), "has no SPIFFE ID") {
		t.Fatalf("a certificate without SPIFFE ID: %v", err)
	}
}

func TestNewRefusesBadConfig(t *testing.T) {
	dir := t.TempDir()
	bundle := x509poptest.WriteBundle(t, filepath.Join(dir, "ca.pem"), x509poptest.NewCA(t, "root", nil))
	for _, tt := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"no CA bundle", Config{TrustDomain: td}, "ca_bundle_path is required"},
		{"a missing CA bundle", Config{TrustDomain: td, CABundlePaths: []string{filepath.Join(dir, "none.pem")}}, "none.pem"},
		{"an unknown mode", Config{TrustDomain: td, Mode: "tpm", CABundlePaths: []string{bundle}}, `mode "tpm"`},
		{"CA bundles in spiffe mode", Config{TrustDomain: td, Mode: ModeSPIFFE, CABundlePaths: []string{bundle}}, "cannot be used in spiffe mode"},
		{"a broken template", Config{TrustDomain: td, CABundlePaths: []string{bundle}, AgentPathTemplate: "{{ .Fingerprint"}, "agent_path_template"},
	} {
		if _, err := New(tt.cfg); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error = %v, want %q", tt.name, err, tt.want)
		}
	}
}
