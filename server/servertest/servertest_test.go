package servertest_test

import (
	"testing"

	bundlev1 "github.com/spiffe/spire-api-sdk/proto/spire/api/server/bundle/v1"
	entryv1 "github.com/spiffe/spire-api-sdk/proto/spire/api/server/entry/v1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/lanyard-dev/lanyard/internal/spireid"
	"github.com/lanyard-dev/lanyard/server/servertest"
)

func TestTheHarnessGivesAnAgentAnAdminAndAnAnonymousCaller(t *testing.T) {
	s := servertest.Start(t, servertest.WithTrustDomain("harness.test"))
	agent := s.AttestAgent()
	if !spireid.IsAgent(s.TrustDomain, agent.ID) {
		t.Fatalf("attested agent ID %s is not an agent ID", agent.ID)
	}
	if _, err := entryv1.NewEntryClient(agent.Conn).GetAuthorizedEntries(t.Context(), &entryv1.GetAuthorizedEntriesRequest{}); err != nil {
		t.Fatalf("agent call over TLS: %v", err)
	}
	admin := s.AdminPeer("/ops")
	if _, err := entryv1.NewEntryClient(admin.Conn).CountEntries(t.Context(), &entryv1.CountEntriesRequest{}); err != nil {
		t.Fatalf("admin SVID call over TLS: %v", err)
	}
	anon := s.Dial(nil, nil)
	if _, err := bundlev1.NewBundleClient(anon).GetBundle(t.Context(), &bundlev1.GetBundleRequest{}); err != nil {
		t.Fatalf("anonymous GetBundle: %v", err)
	}
	_, err := entryv1.NewEntryClient(anon).CountEntries(t.Context(), &entryv1.CountEntriesRequest{})
	if status.Code(err) != codes.PermissionDenied {
		t.Fatalf("anonymous CountEntries: %v, want PermissionDenied", err)
	}
	s.Stop()
	s.Stop() // a second stop does nothing
}
