package localauthority_test

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bundlev1 "github.com/spiffe/spire-api-sdk/proto/spire/api/server/bundle/v1"
	localauthorityv1 "github.com/spiffe/spire-api-sdk/proto/spire/api/server/localauthority/v1"
	svidv1 "github.com/spiffe/spire-api-sdk/proto/spire/api/server/svid/v1"
	"github.com/spiffe/spire-api-sdk/proto/spire/api/types"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/lanyard-dev/lanyard/internal/testca"
	"github.com/lanyard-dev/lanyard/server/servertest"
)

type state = localauthorityv1.AuthorityState

// kind is one of the two families of authority the API rotates alike.
type kind struct {
	name     string
	get      func(ctx context.Context, c localauthorityv1.LocalAuthorityClient) (active, prepared, old *state, err error)
	prepare  func(ctx context.Context, c localauthorityv1.LocalAuthorityClient) (*state, error)
	activate func(ctx context.Context, c localauthorityv1.LocalAuthorityClient, id string) (*state, error)
	taint    func(ctx context.Context, c localauthorityv1.LocalAuthorityClient, id string) (*state, error)
	revoke   func(ctx context.Context, c localauthorityv1.LocalAuthorityClient, id string) (*state, error)
	// inBundle tells whether the bundle holds the authority, and whether it is tainted.
	inBundle func(t *testing.T, b *types.Bundle, id string) (present, tainted bool)
	// signer mints an SVID and returns the ID of the authority that signed it.
	signer func(t *testing.T, s *servertest.Server) string
}

var kinds = []kind{
	{
		name: "X.509",
		get: func(ctx context.Context, c localauthorityv1.LocalAuthorityClient) (*state, *state, *state, error) {
			r, err := c.GetX509AuthorityState(ctx, &localauthorityv1.GetX509AuthorityStateRequest{})
			return r.GetActive(), r.GetPrepared(), r.GetOld(), err
		},
		prepare: func(ctx context.Context, c localauthorityv1.LocalAuthorityClient) (*state, error) {
			r, err := c.PrepareX509Authority(ctx, &localauthorityv1.PrepareX509AuthorityRequest{})
			return r.GetPreparedAuthority(), err
		},
		activate: func(ctx context.Context, c localauthorityv1.LocalAuthorityClient, id string) (*state, error) {
			r, err := c.ActivateX509Authority(ctx, &localauthorityv1.ActivateX509AuthorityRequest{AuthorityId: id})
			return r.GetActivatedAuthority(), err
		},
		taint: func(ctx context.Context, c localauthorityv1.LocalAuthorityClient, id string) (*state, error) {
			r, err := c.TaintX509Authority(ctx, &localauthorityv1.TaintX509AuthorityRequest{AuthorityId: id})
			return r.GetTaintedAuthority(), err
		},
		revoke: func(ctx context.Context, c localauthorityv1.LocalAuthorityClient, id string) (*state, error) {
			r, err := c.RevokeX509Authority(ctx, &localauthorityv1.RevokeX509AuthorityRequest{AuthorityId: id})
			return r.GetRevokedAuthority(), err
		},
		inBundle: func(t *testing.T, b *types.Bundle, id string) (bool, bool) {
			for _, a := range b.X509Authorities {
				c, err := x509.ParseCertificate(a.Asn1)
				if err != nil {
					t.Fatal(err)
				}
				if hex.EncodeToString(c.SubjectKeyId) == id {
					return true, a.Tainted
				}
			}
			return false, false
		},
		signer: func(t *testing.T, s *servertest.Server) string {
			return hex.EncodeToString(s.WorkloadPeer("/w").Chain[0].AuthorityKeyId)
		},
	},
	{
		name: "JWT",
		get: func(ctx context.Context, c localauthorityv1.LocalAuthorityClient) (*state, *state, *state, error) {
			r, err := c.GetJWTAuthorityState(ctx, &localauthorityv1.GetJWTAuthorityStateRequest{})
			return r.GetActive(), r.GetPrepared(), r.GetOld(), err
		},
		prepare: func(ctx context.Context, c localauthorityv1.LocalAuthorityClient) (*state, error) {
			r, err := c.PrepareJWTAuthority(ctx, &localauthorityv1.PrepareJWTAuthorityRequest{})
			return r.GetPreparedAuthority(), err
		},
		activate: func(ctx context.Context, c localauthorityv1.LocalAuthorityClient, id string) (*state, error) {
			r, err := c.ActivateJWTAuthority(ctx, &localauthorityv1.ActivateJWTAuthorityRequest{AuthorityId: id})
			return r.GetActivatedAuthority(), err
		},
		taint: func(ctx context.Context, c localauthorityv1.LocalAuthorityClient, id string) (*state, error) {
			r, err := c.TaintJWTAuthority(ctx, &localauthorityv1.TaintJWTAuthorityRequest{AuthorityId: id})
			return r.GetTaintedAuthority(), err
		},
		revoke: func(ctx context.Context, c localauthorityv1.LocalAuthorityClient, id string) (*state, error) {
			r, err := c.RevokeJWTAuthority(ctx, &localauthorityv1.RevokeJWTAuthorityRequest{AuthorityId: id})
			return r.GetRevokedAuthority(), err
		},
		inBundle: func(_ *testing.T, b *types.Bundle, id string) (bool, bool) {
			for _, k := range b.JwtAuthorities {
				if k.KeyId == id {
					return true, k.Tainted
				}
			}
			return false, false
		},
		signer: func(t *testing.T, s *servertest.Server) string {
			r, err := svidv1.NewSVIDClient(s.Admin).MintJWTSVID(t.Context(), &svidv1.MintJWTSVIDRequest{
				Id: &types.SPIFFEID{TrustDomain: s.TrustDomain.Name(), Path: "/w"}, Audience: []string{"a"}})
			if err != nil {
				t.Fatal(err)
			}
			header, err := base64.RawURLEncoding.DecodeString(strings.Split(r.Svid.Token, ".")[0])
			if err != nil {
				t.Fatal(err)
			}
			var h struct{ Kid string }
			if err := json.Unmarshal(header, &h); err != nil {
				t.Fatal(err)
			}
			return h.Kid
		},
	},
}

func TestForcedRotationPrepareActivateTaintRevoke(t *testing.T) {
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			s := servertest.Start(t)
			ctx := t.Context()
			c := localauthorityv1.NewLocalAuthorityClient(s.Admin)
			bundle := func() *types.Bundle {
				b, err := bundlev1.NewBundleClient(s.Admin).GetBundle(ctx, &bundlev1.GetBundleRequest{})
				if err != nil {
					t.Fatal(err)
				}
				return b
			}
			first, prepared, old, err := k.get(ctx, c)
			if err != nil || first.GetAuthorityId() == "" || prepared != nil || old != nil {
				t.Fatalf("state at start: active %v prepared %v old %v (%v); want only an active authority", first, prepared, old, err)
			}
			if first.ExpiresAt != s.Clock.Now().Add(24*time.Hour).Unix() {
				t.Fatalf("active authority expires %d; want ca_ttl (24h) from now", first.ExpiresAt)
			}

			// Tainting or revoking the active authority, or activating it again, is refused.
			if _, err := k.taint(ctx, c, first.AuthorityId); status.Code(err) != codes.InvalidArgument {
				t.Fatalf("tainting the active authority: %v; want InvalidArgument", err)
			}
			if _, err := k.revoke(ctx, c, first.AuthorityId); status.Code(err) != codes.InvalidArgument {
				t.Fatalf("revoking the active authority: %v; want InvalidArgument", err)
			}
			if _, err := k.activate(ctx, c, "0123"); status.Code(err) != codes.NotFound {
				t.Fatalf("activating an unknown authority: %v; want NotFound", err)
			}

			next, err := k.prepare(ctx, c)
			if err != nil {
				t.Fatal(err)
			}
			if present, _ := k.inBundle(t, bundle(), next.AuthorityId); !present || next.AuthorityId == first.AuthorityId {
				t.Fatalf("prepared authority %s: want a new one, published in the bundle before it signs", next.AuthorityId)
			}
			if got := k.signer(t, s); got != first.AuthorityId {
				t.Fatalf("a prepared authority signed an SVID (%s); the active one (%s) must until activation", got, first.AuthorityId)
			}
			activated, err := k.activate(ctx, c, next.AuthorityId)
			if err != nil || activated.AuthorityId != next.AuthorityId {
				t.Fatalf("activate: %v %v", activated, err)
			}
			active, prepared, old, err := k.get(ctx, c)
			if err != nil || active.GetAuthorityId() != next.AuthorityId || prepared != nil || old.GetAuthorityId() != first.AuthorityId {
				t.Fatalf("after activation: active %v prepared %v old %v; want the new one active and the first old", active, prepared, old)
			}
			if got := k.signer(t, s); got != next.AuthorityId {
				t.Fatalf("after activation, SVIDs are signed by %s; want the activated %s", got, next.AuthorityId)
			}

			// An old authority must be tainted before it is revoked.
			if _, err := k.revoke(ctx, c, first.AuthorityId); status.Code(err) != codes.FailedPrecondition {
				t.Fatalf("revoking an untainted authority: %v; want FailedPrecondition (taint it first)", err)
			}
			if _, err := k.taint(ctx, c, first.AuthorityId); err != nil {
				t.Fatal(err)
			}
			if present, tainted := k.inBundle(t, bundle(), first.AuthorityId); !present || !tainted {
				t.Fatalf("tainted authority in the bundle: present %v tainted %v; want present and tainted", present, tainted)
			}
			if _, err := k.revoke(ctx, c, first.AuthorityId); err != nil {
				t.Fatal(err)
			}
			if present, _ := k.inBundle(t, bundle(), first.AuthorityId); present {
				t.Fatal("revoked authority is still in the bundle")
			}
			if present, _ := k.inBundle(t, bundle(), next.AuthorityId); !present {
				t.Fatal("the active authority left the bundle")
			}
		})
	}
}

func TestUpstreamAuthorityOperationsNeedAnUpstreamAuthority(t *testing.T) {
	s := servertest.Start(t)
	c := localauthorityv1.NewLocalAuthorityClient(s.Admin)
	if _, err := c.TaintX509UpstreamAuthority(t.Context(), &localauthorityv1.TaintX509UpstreamAuthorityRequest{SubjectKeyId: "01"}); status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("taint upstream without one: %v; want FailedPrecondition", err)
	}
	if _, err := c.RevokeX509UpstreamAuthority(t.Context(), &localauthorityv1.RevokeX509UpstreamAuthorityRequest{SubjectKeyId: "01"}); status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("revoke upstream without one: %v; want FailedPrecondition", err)
	}
}

func TestUnderAnUpstreamAuthorityOnlyUpstreamsAreTaintedOrRevoked(t *testing.T) {
	dir := t.TempDir()
	root, key := testca.New(t, "upstream root", nil, nil, time.Now().Add(48*time.Hour))
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile := filepath.Join(dir, "up.crt"), filepath.Join(dir, "up.key")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: root.Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	s := servertest.Start(t, servertest.WithYAML("upstream_authority:\n  cert_file: "+certFile+"\n  key_file: "+keyFile+"\n"))
	c := localauthorityv1.NewLocalAuthorityClient(s.Admin)
	st, err := c.GetX509AuthorityState(t.Context(), &localauthorityv1.GetX509AuthorityStateRequest{})
	rootID := hex.EncodeToString(root.SubjectKeyId)
	if err != nil || st.Active.UpstreamAuthoritySubjectKeyId != rootID {
		t.Fatalf("active authority %v %v; want it signed by the upstream root %s", st, err, rootID)
	}
	if _, err := c.TaintX509Authority(t.Context(), &localauthorityv1.TaintX509AuthorityRequest{AuthorityId: st.Active.AuthorityId}); status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("tainting a local authority under an upstream one: %v; want FailedPrecondition", err)
	}
	if _, err := c.RevokeX509Authority(t.Context(), &localauthorityv1.RevokeX509AuthorityRequest{AuthorityId: st.Active.AuthorityId}); status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("revoking a local authority under an upstream one: %v; want FailedPrecondition", err)
	}
	for name, ski := range map[string]string{"the upstream signing the active CA": rootID, "no subject key ID": "", "one that is not hex": "xyz"} {
		if _, err := c.TaintX509UpstreamAuthority(t.Context(), &localauthorityv1.TaintX509UpstreamAuthorityRequest{SubjectKeyId: ski}); status.Code(err) != codes.InvalidArgument {
			t.Errorf("tainting %s: %v; want InvalidArgument", name, err)
		}
		if _, err := c.RevokeX509UpstreamAuthority(t.Context(), &localauthorityv1.RevokeX509UpstreamAuthorityRequest{SubjectKeyId: ski}); status.Code(err) != codes.InvalidArgument {
			t.Errorf("revoking %s: %v; want InvalidArgument", name, err)
		}
	}
	if _, err := c.TaintX509UpstreamAuthority(t.Context(), &localauthorityv1.TaintX509UpstreamAuthorityRequest{SubjectKeyId: "0a0b"}); status.Code(err) != codes.NotFound {
		t.Errorf("tainting an upstream that is not in the bundle: %v; want NotFound", err)
	}
}

func TestLocalAuthorityIsForAdministrators(t *testing.T) {
	s := servertest.Start(t)
	agent := s.AttestAgent()
	c := localauthorityv1.NewLocalAuthorityClient(agent.Conn)
	if _, err := c.GetX509AuthorityState(t.Context(), &localauthorityv1.GetX509AuthorityStateRequest{}); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("GetX509AuthorityState from an agent: %v; want PermissionDenied", err)
	}
	if _, err := c.PrepareJWTAuthority(t.Context(), &localauthorityv1.PrepareJWTAuthorityRequest{}); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("PrepareJWTAuthority from an agent: %v; want PermissionDenied", err)
	}
}
