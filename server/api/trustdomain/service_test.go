package trustdomain

import (
	"testing"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	trustdomainv1 "github.com/spiffe/spire-api-sdk/proto/spire/api/server/trustdomain/v1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func TestADatastoreWithoutRelationshipsAnswersUnimplemented(t *testing.T) {
	s := New(Config{TrustDomain: spiffeid.RequireTrustDomainFromString("a.org")})
	_, err := s.ListFederationRelationships(t.Context(), &trustdomainv1.ListFederationRelationshipsRequest{})
	if status.Code(err) != codes.Unimplemented {
		t.Fatalf("error = %v, want Unimplemented", err)
	}
	_, err = s.RefreshBundle(t.Context(), &trustdomainv1.RefreshBundleRequest{TrustDomain: "b.org"})
	if status.Code(err) != codes.Unimplemented {
		t.Fatalf("error = %v, want Unimplemented", err)
	}
}
