package debug_test

import (
	"testing"
	"time"

	bundlev1 "github.com/spiffe/spire-api-sdk/proto/spire/api/server/bundle/v1"
	debugv1 "github.com/spiffe/spire-api-sdk/proto/spire/api/server/debug/v1"
	"github.com/spiffe/spire-api-sdk/proto/spire/api/types"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/lanyard-dev/lanyard/server/servertest"
)

func TestGetInfoCountsWhatTheServerHolds(t *testing.T) {
	s := servertest.Start(t)
	c := debugv1.NewDebugClient(s.Admin)
	info, err := c.GetInfo(t.Context(), &debugv1.GetInfoRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if info.AgentsCount != 0 || info.EntriesCount != 0 || info.FederatedBundlesCount != 0 || info.Uptime != 0 {
		t.Fatalf("fresh server: %v; want nothing counted and no uptime on a clock that has not moved", info)
	}
	if len(info.SvidChain) == 0 || info.SvidChain[0].Id.GetPath() != "/spire/server" || info.SvidChain[0].Id.TrustDomain != "example.org" {
		t.Fatalf("SVID chain %v; want the server's own SVID first", info.SvidChain)
	}
	if info.SvidChain[0].ExpiresAt != s.Clock.Now().Add(time.Hour).Unix() {
		t.Fatalf("server SVID expires %d; want default_x509_svid_ttl (1h) from now", info.SvidChain[0].ExpiresAt)
	}

	agent := s.AttestAgent()
	s.AttestAgent()
	s.CreateEntries(s.Entry("/a", agent.ID, "unix:uid:1"))
	if _, err := bundlev1.NewBundleClient(s.Admin).BatchCreateFederatedBundle(t.Context(), &bundlev1.BatchCreateFederatedBundleRequest{
		Bundle: []*types.Bundle{servertest.PartnerBundle(t, "partner.test", "p")}}); err != nil {
		t.Fatal(err)
	}
	s.Clock.Step(90 * time.Second)
	info, err = c.GetInfo(t.Context(), &debugv1.GetInfoRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if info.AgentsCount != 2 || info.EntriesCount != 1 || info.FederatedBundlesCount != 1 || info.Uptime != 90 {
		t.Fatalf("GetInfo %v; want 2 agents, 1 entry, 1 federated bundle, 90s up", info)
	}
	if _, err := debugv1.NewDebugClient(agent.Conn).GetInfo(t.Context(), &debugv1.GetInfoRequest{}); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("GetInfo from an agent: %v; want PermissionDenied", err)
	}
}
