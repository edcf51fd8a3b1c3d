package agent_test

import (
	"testing"
	"time"

	agentv1 "github.com/spiffe/spire-api-sdk/proto/spire/api/server/agent/v1"
	entryv1 "github.com/spiffe/spire-api-sdk/proto/spire/api/server/entry/v1"
	"github.com/spiffe/spire-api-sdk/proto/spire/api/types"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/lanyard-dev/lanyard/agent/attest"
	"github.com/lanyard-dev/lanyard/server/servertest"
)

func use(t *testing.T, conn *grpc.ClientConn) error {
	t.Helper()
	_, err := entryv1.NewEntryClient(conn).GetAuthorizedEntries(t.Context(), &entryv1.GetAuthorizedEntriesRequest{})
	return err
}

func TestRenewAgentIssuesANewSVIDThatRetiresTheOldOnFirstUse(t *testing.T) {
	s := servertest.Start(t)
	agent := s.AttestAgent()
	s.Clock.Step(10 * time.Minute)
	renewed, err := attest.Renew(t.Context(), agentv1.NewAgentClient(agent.Conn), agent.ID)
	if err != nil {
		t.Fatal(err)
	}
	leaf := renewed.Chain[0]
	if leaf.SerialNumber.Cmp(agent.Chain[0].SerialNumber) == 0 || leaf.NotAfter.Sub(s.Clock.Now()) != time.Hour {
		t.Fatalf("renewed SVID serial %s, expires %s: want a new serial and a full agent_ttl from now", leaf.SerialNumber, leaf.NotAfter)
	}
	if err := use(t, agent.Conn); err != nil {
		t.Fatalf("the old SVID before the new one is used: %v", err)
	}
	if err := use(t, s.Dial(agent.Chain, agent.Key)); err != nil {
		t.Fatalf("the old SVID on a new connection before the new one is used: %v", err)
	}
	if err := use(t, s.Dial(renewed.Chain, renewed.Key)); err != nil {
		t.Fatalf("the renewed SVID: %v", err)
	}
	err = use(t, agent.Conn)
	if status.Code(err) != codes.PermissionDenied || reason(err) != types.PermissionDeniedDetails_AGENT_NOT_ACTIVE {
		t.Fatalf("the old SVID after the new one was used: %v; want PermissionDenied AGENT_NOT_ACTIVE", err)
	}
	a, err := agentv1.NewAgentClient(s.Admin).GetAgent(t.Context(), &agentv1.GetAgentRequest{Id: &types.SPIFFEID{TrustDomain: "example.org", Path: agent.ID.Path()}})
	if err != nil || a.X509SvidSerialNumber != leaf.SerialNumber.String() || a.X509SvidExpiresAt != leaf.NotAfter.Unix() {
		t.Fatalf("stored agent %v %v; want the renewed serial and expiry", a, err)
	}
}

func TestAnExpiredAgentSVIDIsRefused(t *testing.T) {
	s := servertest.Start(t)
	agent := s.AttestAgent()
	s.Clock.Step(time.Hour)
	err := use(t, agent.Conn)
	if status.Code(err) != codes.PermissionDenied || reason(err) != types.PermissionDeniedDetails_AGENT_EXPIRED {
		t.Fatalf("call with an expired agent SVID: %v; want PermissionDenied AGENT_EXPIRED", err)
	}
	if _, err := attest.Renew(t.Context(), agentv1.NewAgentClient(agent.Conn), agent.ID); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("renewing with an expired SVID: %v; want PermissionDenied", err)
	}
}

func TestRenewAgentIsForAgentsWithTheirOwnID(t *testing.T) {
	s := servertest.Start(t)
	agent := s.AttestAgent()
	c := agentv1.NewAgentClient(agent.Conn)
	if _, err := c.RenewAgent(t.Context(), &agentv1.RenewAgentRequest{}); status.Code(err) != codes.InvalidArgument {
		t.Errorf("no params: %v; want InvalidArgument", err)
	}
	other := "spiffe://example.org/spire/agent/join_token/other"
	if _, err := c.RenewAgent(t.Context(), &agentv1.RenewAgentRequest{Params: &agentv1.AgentX509SVIDParams{Csr: csr(t, other)}}); status.Code(err) != codes.InvalidArgument {
		t.Errorf("CSR for another agent: %v; want InvalidArgument", err)
	}
	for name, conn := range map[string]*grpc.ClientConn{
		"the admin socket":      s.Admin,
		"an admin SVID":         s.AdminPeer("/ops").Conn,
		"a caller without SVID": s.Dial(nil, nil),
	} {
		_, err := agentv1.NewAgentClient(conn).RenewAgent(t.Context(), &agentv1.RenewAgentRequest{Params: &agentv1.AgentX509SVIDParams{Csr: csr(t, "")}})
		if status.Code(err) != codes.PermissionDenied {
			t.Errorf("RenewAgent from %s: %v; want PermissionDenied", name, err)
		}
		_, err = agentv1.NewAgentClient(conn).PostStatus(t.Context(), &agentv1.PostStatusRequest{AgentVersion: "1"})
		if status.Code(err) != codes.PermissionDenied {
			t.Errorf("PostStatus from %s: %v; want PermissionDenied", name, err)
		}
	}
}

func TestPostStatusRecordsTheAgentVersion(t *testing.T) {
	s := servertest.Start(t)
	agent := s.AttestAgent()
	c := agentv1.NewAgentClient(agent.Conn)
	if _, err := c.PostStatus(t.Context(), &agentv1.PostStatusRequest{AgentVersion: "1.2.3"}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.PostStatus(t.Context(), &agentv1.PostStatusRequest{AgentVersion: "bad\nversion"}); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("a version with a newline: %v; want InvalidArgument", err)
	}
	a, err := agentv1.NewAgentClient(s.Admin).GetAgent(t.Context(), &agentv1.GetAgentRequest{
		Id: &types.SPIFFEID{TrustDomain: "example.org", Path: agent.ID.Path()}, OutputMask: &types.AgentMask{AgentVersion: true}})
	if err != nil || a.AgentVersion != "1.2.3" || a.AttestationType != "" {
		t.Fatalf("agent %v %v; want version 1.2.3 and only the masked field", a, err)
	}
}
