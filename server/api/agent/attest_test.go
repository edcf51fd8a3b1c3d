package agent_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"net/url"
	"strings"
	"testing"
	"time"

	agentv1 "github.com/spiffe/spire-api-sdk/proto/spire/api/server/agent/v1"
	"github.com/spiffe/spire-api-sdk/proto/spire/api/types"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/lanyard-dev/lanyard/agent/attest"
	"github.com/lanyard-dev/lanyard/server/servertest"
)

// reason is the PermissionDeniedDetails reason SPIRE agents act on (re-attest or not).
func reason(err error) types.PermissionDeniedDetails_Reason {
	for _, d := range status.Convert(err).Details() {
		if p, ok := d.(*types.PermissionDeniedDetails); ok {
			return p.Reason
		}
	}
	return -1
}

// attestOnce sends one params message and returns the server's first answer.
func attestOnce(t *testing.T, s *servertest.Server, params *agentv1.AttestAgentRequest_Params) (*agentv1.AttestAgentResponse, error) {
	t.Helper()
	stream, err := agentv1.NewAgentClient(s.Dial(nil, nil)).AttestAgent(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&agentv1.AttestAgentRequest{Step: &agentv1.AttestAgentRequest_Params_{Params: params}}); err != nil {
		t.Fatal(err)
	}
	return stream.Recv()
}

func csr(t *testing.T, id string) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.CertificateRequest{}
	if id != "" {
		u, _ := url.Parse(id)
		tmpl.URIs = []*url.URL{u}
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, tmpl, key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func joinToken(token string, csr []byte) *agentv1.AttestAgentRequest_Params {
	return &agentv1.AttestAgentRequest_Params{
		Data:   &types.AttestationData{Type: "join_token", Payload: []byte(token)},
		Params: &agentv1.AgentX509SVIDParams{Csr: csr},
	}
}

func TestAJoinTokenAttestsOneAgentOnce(t *testing.T) {
	s := servertest.Start(t)
	token := s.JoinToken(10 * time.Minute)
	agent, err := s.AttestWithToken(token)
	if err != nil {
		t.Fatal(err)
	}
	if want := "spiffe://example.org/spire/agent/join_token/" + token; agent.ID.String() != want {
		t.Fatalf("agent ID %s, want %s", agent.ID, want)
	}
	if got := agent.Chain[0].NotAfter.Sub(s.Clock.Now()); got != time.Hour {
		t.Fatalf("agent SVID lives %s, want agent_ttl (1h)", got)
	}
	a, err := agentv1.NewAgentClient(s.Admin).GetAgent(t.Context(), &agentv1.GetAgentRequest{Id: &types.SPIFFEID{TrustDomain: "example.org", Path: agent.ID.Path()}})
	if err != nil {
		t.Fatal(err)
	}
	if a.AttestationType != "join_token" || a.X509SvidSerialNumber != agent.Chain[0].SerialNumber.String() || a.CanReattest {
		t.Fatalf("stored agent %v: want join_token, the SVID's serial, not reattestable", a)
	}
	if _, err := s.AttestWithToken(token); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("second attestation with the same token: %v; want PermissionDenied", err)
	}
}

func TestAnExpiredOrUnknownJoinTokenIsRefused(t *testing.T) {
	s := servertest.Start(t)
	token := s.JoinToken(time.Minute)
	s.Clock.Step(time.Minute + time.Second)
	if _, err := s.AttestWithToken(token); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("expired token: %v; want PermissionDenied", err)
	}
	if _, err := s.AttestWithToken("never-issued"); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("unknown token: %v; want PermissionDenied", err)
	}
}

func TestMalformedAttestationIsInvalid(t *testing.T) {
	s := servertest.Start(t)
	good := csr(t, "")
	for name, p := range map[string]*agentv1.AttestAgentRequest_Params{
		"no params":                 nil,
		"no attestation type":       {Data: &types.AttestationData{Payload: []byte("x")}, Params: &agentv1.AgentX509SVIDParams{Csr: good}},
		"no payload":                {Data: &types.AttestationData{Type: "join_token"}, Params: &agentv1.AgentX509SVIDParams{Csr: good}},
		"a payload over 64 KiB":     joinToken(strings.Repeat("a", 65<<10), good),
		"no CSR":                    {Data: &types.AttestationData{Type: "join_token", Payload: []byte("x")}},
		"an attestor not enabled":   {Data: &types.AttestationData{Type: "aws_iid", Payload: []byte("x")}, Params: &agentv1.AgentX509SVIDParams{Csr: good}},
		"a CSR that does not parse": joinToken("x", []byte("not a csr")),
	} {
		if _, err := attestOnce(t, s, p); status.Code(err) != codes.InvalidArgument {
			t.Errorf("%s: %v; want InvalidArgument", name, err)
		}
	}
	// A CSR naming an ID must name the agent's own.
	token := s.JoinToken(time.Minute)
	if _, err := attestOnce(t, s, joinToken(token, csr(t, "spiffe://example.org/spire/agent/join_token/someone-else"))); status.Code(err) != codes.InvalidArgument {
		t.Errorf("CSR for another agent: %v; want InvalidArgument", err)
	}
	resp, err := attestOnce(t, s, joinToken(s.JoinToken(time.Minute), csr(t, "")))
	if err != nil || resp.GetResult().GetSvid() == nil {
		t.Fatalf("CSR without ID: %v %v; want an SVID", resp, err)
	}
}

func TestABannedAgentIsRefusedUntilDeleted(t *testing.T) {
	s := servertest.Start(t)
	agent := s.AttestAgent()
	admin := agentv1.NewAgentClient(s.Admin)
	id := &types.SPIFFEID{TrustDomain: "example.org", Path: agent.ID.Path()}
	if _, err := admin.BanAgent(t.Context(), &agentv1.BanAgentRequest{Id: id}); err != nil {
		t.Fatal(err)
	}
	_, err := attest.Renew(t.Context(), agentv1.NewAgentClient(agent.Conn), agent.ID)
	if status.Code(err) != codes.PermissionDenied || reason(err) != types.PermissionDeniedDetails_AGENT_BANNED {
		t.Fatalf("banned agent renewing: %v; want PermissionDenied AGENT_BANNED", err)
	}
	got, err := admin.GetAgent(t.Context(), &agentv1.GetAgentRequest{Id: id})
	if err != nil || !got.Banned {
		t.Fatalf("banned agent %v %v; want banned", got, err)
	}
	if _, err := admin.DeleteAgent(t.Context(), &agentv1.DeleteAgentRequest{Id: id}); err != nil {
		t.Fatal(err)
	}
	_, err = attest.Renew(t.Context(), agentv1.NewAgentClient(agent.Conn), agent.ID)
	if status.Code(err) != codes.PermissionDenied || reason(err) != types.PermissionDeniedDetails_AGENT_NOT_ATTESTED {
		t.Fatalf("evicted agent renewing: %v; want PermissionDenied AGENT_NOT_ATTESTED", err)
	}
	if _, err := admin.GetAgent(t.Context(), &agentv1.GetAgentRequest{Id: id}); status.Code(err) != codes.NotFound {
		t.Fatalf("evicted agent: %v; want NotFound", err)
	}
	for name, err := range map[string]error{
		"ban an unknown agent":    errOf(admin.BanAgent(t.Context(), &agentv1.BanAgentRequest{Id: id})),
		"delete an unknown agent": errOf(admin.DeleteAgent(t.Context(), &agentv1.DeleteAgentRequest{Id: id})),
	} {
		if status.Code(err) != codes.NotFound {
			t.Errorf("%s: %v; want NotFound", name, err)
		}
	}
	notAgent := &types.SPIFFEID{TrustDomain: "example.org", Path: "/workload"}
	for name, err := range map[string]error{
		"get":            errOf(admin.GetAgent(t.Context(), &agentv1.GetAgentRequest{Id: notAgent})),
		"ban":            errOf(admin.BanAgent(t.Context(), &agentv1.BanAgentRequest{Id: notAgent})),
		"delete":         errOf(admin.DeleteAgent(t.Context(), &agentv1.DeleteAgentRequest{Id: notAgent})),
		"get without id": errOf(admin.GetAgent(t.Context(), &agentv1.GetAgentRequest{})),
	} {
		if status.Code(err) != codes.InvalidArgument {
			t.Errorf("%s with a non-agent ID: %v; want InvalidArgument", name, err)
		}
	}
}

func errOf[T any](_ T, err error) error { return err }

// An agent ID attested again (here: the same join token value issued again) keeps its old
// SVID working until the new one is used; a banned agent may not attest again until an
// administrator deletes its record.
func TestAttestingAnExistingAgentAgain(t *testing.T) {
	s := servertest.Start(t)
	admin := agentv1.NewAgentClient(s.Admin)
	token := func() string {
		t.Helper()
		if _, err := admin.CreateJoinToken(t.Context(), &agentv1.CreateJoinTokenRequest{Ttl: 600, Token: "node-a"}); err != nil {
			t.Fatal(err)
		}
		return "node-a"
	}
	first, err := s.AttestWithToken(token())
	if err != nil {
		t.Fatal(err)
	}
	second, err := s.AttestWithToken(token())
	if err != nil {
		t.Fatalf("attesting node-a again: %v", err)
	}
	if second.ID != first.ID {
		t.Fatalf("second attestation gave %s, want %s", second.ID, first.ID)
	}
	if err := use(t, first.Conn); err != nil {
		t.Fatalf("the first SVID before the second is used: %v", err)
	}
	if err := use(t, second.Conn); err != nil {
		t.Fatalf("the second SVID: %v", err)
	}
	if err := use(t, s.Dial(first.Chain, first.Key)); status.Code(err) != codes.PermissionDenied || reason(err) != types.PermissionDeniedDetails_AGENT_NOT_ACTIVE {
		t.Fatalf("the first SVID after the second was used: %v; want PermissionDenied AGENT_NOT_ACTIVE", err)
	}

	id := &types.SPIFFEID{TrustDomain: "example.org", Path: first.ID.Path()}
	if _, err := admin.BanAgent(t.Context(), &agentv1.BanAgentRequest{Id: id}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AttestWithToken(token()); status.Code(err) != codes.PermissionDenied || reason(err) != types.PermissionDeniedDetails_AGENT_BANNED {
		t.Fatalf("a banned agent attesting again: %v; want PermissionDenied AGENT_BANNED", err)
	}
	if _, err := admin.DeleteAgent(t.Context(), &agentv1.DeleteAgentRequest{Id: id}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AttestWithToken(token()); err != nil {
		t.Fatalf("attesting again once the banned record was deleted: %v", err)
	}
}
