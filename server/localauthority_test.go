package server

import (
	"testing"

	"github.com/spiffe/go-spiffe/v2/spiffetls/tlsconfig"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"
	localauthorityv1 "github.com/spiffe/spire-api-sdk/proto/spire/api/server/localauthority/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"
)

// Forced rotation is for operators on the admin socket: an attested agent calling the
// localauthority service over TCP is refused, while the admin socket is served.
func TestLocalAuthorityIsAdminOnly(t *testing.T) {
	ts := startServer(t, newConfig(t))
	res := ts.attest()
	svid := &x509svid.SVID{ID: res.ID, Certificates: res.Chain, PrivateKey: res.Key}
	conn, err := grpc.NewClient(ts.srv.Addr().String(), grpc.WithTransportCredentials(
		credentials.NewTLS(tlsconfig.MTLSClientConfig(svid, ts.bundle(), tlsconfig.AuthorizeAny()))))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	asAgent := localauthorityv1.NewLocalAuthorityClient(conn)
	if _, err := asAgent.GetX509AuthorityState(t.Context(), &localauthorityv1.GetX509AuthorityStateRequest{}); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("GetX509AuthorityState as an agent: %v, want PermissionDenied", err)
	}
	if _, err := asAgent.PrepareX509Authority(t.Context(), &localauthorityv1.PrepareX509AuthorityRequest{}); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("PrepareX509Authority as an agent: %v, want PermissionDenied", err)
	}
	st, err := localauthorityv1.NewLocalAuthorityClient(ts.admin).GetJWTAuthorityState(t.Context(), &localauthorityv1.GetJWTAuthorityStateRequest{})
	if err != nil || st.Active.GetAuthorityId() == "" {
		t.Fatalf("GetJWTAuthorityState on the admin socket: %v, %v", st, err)
	}
}
