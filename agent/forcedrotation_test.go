package agent

import (
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/svid/jwtsvid"
	"github.com/spiffe/go-spiffe/v2/workloadapi"
	bundlev1 "github.com/spiffe/spire-api-sdk/proto/spire/api/server/bundle/v1"
	localauthorityv1 "github.com/spiffe/spire-api-sdk/proto/spire/api/server/localauthority/v1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/lanyard-dev/lanyard/internal/poll"
)

// Forced rotation end to end in one process: after the operator prepares and activates a
// new CA and taints the old one, the agent re-mints every SVID the old CA signed at once
// (its clock does not move, so this is not half-life renewal) and a go-spiffe workload
// watching X.509 contexts receives them; after revoke the old CA leaves the bundle the
// workload gets.
func TestTaintedCAIsReplacedAtOnceAndRevokedFromTheBundle(t *testing.T) {
	e := newEnv(t)
	cfg, agentID := e.agentConfig()
	names := []string{"web", "db", "queue"}
	for _, n := range names {
		e.entry(n, agentID, 0)
	}
	a := e.startAgent(cfg)
	for _, n := range names {
		a.servesID(t, n)
	}
	ctx := t.Context()
	src, err := workloadapi.NewX509Source(ctx, workloadapi.WithClientOptions(workloadapi.WithAddr("unix://"+cfg.SocketPath)))
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()

	la := localauthorityv1.NewLocalAuthorityClient(e.admin)
	state, err := la.GetX509AuthorityState(ctx, &localauthorityv1.GetX509AuthorityStateRequest{})
	if err != nil {
		t.Fatal(err)
	}
	oldID := state.Active.AuthorityId
	if got := issuer(t, src); got != oldID {
		t.Fatalf("the workload's SVID is signed by %s, want the active CA %s", got, oldID)
	}
	_, err = la.TaintX509Authority(ctx, &localauthorityv1.TaintX509AuthorityRequest{AuthorityId: oldID})
	wantCode(t, "tainting the active CA", codes.InvalidArgument, err)
	prep, err := la.PrepareX509Authority(ctx, &localauthorityv1.PrepareX509AuthorityRequest{})
	if err != nil {
		t.Fatal(err)
	}
	newID := prep.PreparedAuthority.AuthorityId
	if _, err := la.ActivateX509Authority(ctx, &localauthorityv1.ActivateX509AuthorityRequest{AuthorityId: newID}); err != nil {
		t.Fatal(err)
	}
	_, err = la.RevokeX509Authority(ctx, &localauthorityv1.RevokeX509AuthorityRequest{AuthorityId: oldID})
	wantCode(t, "revoking an untainted CA", codes.FailedPrecondition, err)
	_, err = la.TaintX509Authority(ctx, &localauthorityv1.TaintX509AuthorityRequest{AuthorityId: "00ff"})
	wantCode(t, "tainting an unknown CA", codes.NotFound, err)

	if _, err := la.TaintX509Authority(ctx, &localauthorityv1.TaintX509AuthorityRequest{AuthorityId: oldID}); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, 30*time.Second, "the workload's open stream to deliver an SVID signed by the new CA", func() bool {
		return issuer(t, src) == newID
	})
	poll.Until(t, 30*time.Second, "every SVID the agent serves to be signed by the new CA", func() bool {
		svids, err := a.fetchX509(t)
		if err != nil || len(svids) != len(names) {
			return false
		}
		for _, s := range svids {
			if hex.EncodeToString(s.Certificates[0].AuthorityKeyId) != newID {
				return false
			}
		}
		return true
	})
	poll.Until(t, 30*time.Second, "the agent to renew its own SVID, which the tainted CA signed", func() bool {
		return a.log.Contains("agent SVID renewed")
	})
	oldCA := authority(t, src, oldID)
	if oldCA == nil {
		t.Fatal("the tainted CA left the workload's bundle before it was revoked")
	}

	if _, err := la.RevokeX509Authority(ctx, &localauthorityv1.RevokeX509AuthorityRequest{AuthorityId: oldID}); err != nil {
		t.Fatal(err)
	}
	b, err := bundlev1.NewBundleClient(e.admin).GetBundle(ctx, &bundlev1.GetBundleRequest{})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range b.X509Authorities {
		if cert, _ := x509.ParseCertificate(c.Asn1); cert != nil && hex.EncodeToString(cert.SubjectKeyId) == oldID {
			t.Fatal("the revoked CA is still in the server's bundle")
		}
	}
	poll.Until(t, 30*time.Second, "the revoked CA to leave the workload's bundle", func() bool {
		return authority(t, src, oldID) == nil
	})
	e.entry("after-revoke", agentID, 0)
	a.servesID(t, "after-revoke")
	if _, err := la.TaintX509Authority(ctx, &localauthorityv1.TaintX509AuthorityRequest{AuthorityId: oldID}); status.Code(err) != codes.NotFound {
		t.Fatalf("tainting a revoked CA: %v, want NotFound", err)
	}
	// New connections need neither side to present anything the revoked CA signed: a
	// restarted agent (with its saved SVID and bundle) joins again.
	src.Close()
	e.shutdown(a)
	again := e.startAgent(cfg)
	e.entry("after-restart", agentID, 0)
	again.servesID(t, "after-restart")
}

// issuer is the subject key ID (hex) of the CA that signed the source's default SVID.
func issuer(t *testing.T, src *workloadapi.X509Source) string {
	t.Helper()
	s, err := src.GetX509SVID()
	if err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(s.Certificates[0].AuthorityKeyId)
}

// authority returns the source's bundle authority with this subject key ID (hex), or nil.
func authority(t *testing.T, src *workloadapi.X509Source, id string) *x509.Certificate {
	t.Helper()
	b, err := src.GetX509BundleForTrustDomain(spiffeid.RequireTrustDomainFromString(testTD))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range b.X509Authorities() {
		if hex.EncodeToString(c.SubjectKeyId) == id {
			return c
		}
	}
	return nil
}

func wantCode(t *testing.T, what string, want codes.Code, err error) {
	t.Helper()
	if status.Code(err) != want {
		t.Fatalf("%s: %v, want %s", what, err, want)
	}
	t.Logf("%s: %v", what, err)
}

// After the JWT key that signed a cached JWT-SVID is tainted, the agent does not hand that
// token out again: the next fetch returns one signed by the new key, although the cached
// one is far from half its lifetime (the agent's clock does not move).
func TestTaintedJWTKeyIsNotServedAgain(t *testing.T) {
	e := newEnv(t)
	cfg, agentID := e.agentConfig()
	e.entry("web", agentID, 0)
	a := e.startAgent(cfg)
	a.servesID(t, "web")
	ctx := t.Context()
	kid := func() string {
		t.Helper()
		svid, err := workloadapi.FetchJWTSVID(ctx, jwtsvid.Params{Audience: "aud"}, workloadapi.WithAddr("unix://"+cfg.SocketPath))
		if err != nil {
			t.Fatal(err)
		}
		head, _, _ := strings.Cut(svid.Marshal(), ".")
		raw, _ := base64.RawURLEncoding.DecodeString(head)
		var h struct{ Kid string }
		_ = json.Unmarshal(raw, &h)
		return h.Kid
	}
	la := localauthorityv1.NewLocalAuthorityClient(e.admin)
	state, err := la.GetJWTAuthorityState(ctx, &localauthorityv1.GetJWTAuthorityStateRequest{})
	if err != nil {
		t.Fatal(err)
	}
	oldKid := state.Active.AuthorityId
	if got := kid(); got != oldKid {
		t.Fatalf("JWT-SVID signed by %q, want the active key %q", got, oldKid)
	}
	prep, err := la.PrepareJWTAuthority(ctx, &localauthorityv1.PrepareJWTAuthorityRequest{})
	if err != nil {
		t.Fatal(err)
	}
	newKid := prep.PreparedAuthority.AuthorityId
	if _, err := la.ActivateJWTAuthority(ctx, &localauthorityv1.ActivateJWTAuthorityRequest{AuthorityId: newKid}); err != nil {
		t.Fatal(err)
	}
	if got := kid(); got != oldKid {
		t.Fatalf("before the taint the cached token (key %q) should still be served, got key %q", oldKid, got)
	}
	if _, err := la.TaintJWTAuthority(ctx, &localauthorityv1.TaintJWTAuthorityRequest{AuthorityId: oldKid}); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, 30*time.Second, "a JWT-SVID signed by the new key", func() bool { return kid() == newKid })
}
