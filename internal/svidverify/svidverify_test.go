package svidverify

import (
	"crypto/x509"
	"strings"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/bundle/x509bundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/spiffetls/tlsconfig"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/lanyard-dev/lanyard/internal/testca"
)

func TestPeerSVIDsAreVerifiedAtTheInjectedClocksTime(t *testing.T) {
	td := spiffeid.RequireTrustDomainFromString("example.org")
	now := time.Now()
	root, rootKey := testca.New(t, "root", nil, nil, now.Add(24*time.Hour))
	leaf, _ := testca.Leaf(t, "spiffe://example.org/workload", root, rootKey, now.Add(time.Hour))
	bundle := x509bundle.FromX509Authorities(td, []*x509.Certificate{root})
	clk := clocktesting.NewFakeClock(now)
	verify := PeerCertificate(bundle, tlsconfig.AuthorizeMemberOf(td), clk)
	raw := [][]byte{leaf.Raw}

	for _, tc := range []struct {
		name    string
		at      time.Time
		wantErr string
	}{
		{"an SVID within its validity verifies", now, ""},
		{"the same SVID is refused once the clock passes its expiry", now.Add(2 * time.Hour), "expired"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk.SetTime(tc.at)
			err := verify(raw, nil)
			if tc.wantErr == "" && err != nil {
				t.Fatalf("verify = %v, want success", err)
			}
			if tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("verify = %v, want an error saying %q", err, tc.wantErr)
			}
		})
	}
	t.Run("no certificate passes Optional and fails the plain verifier", func(t *testing.T) {
		clk.SetTime(now)
		if err := Optional(verify)(nil, nil); err != nil {
			t.Fatalf("Optional(nil chain) = %v", err)
		}
		if err := verify(nil, nil); err == nil {
			t.Fatal("an empty chain verified")
		}
	})
}
