package api_test

import (
	"testing"
	"time"

	agentv1 "github.com/spiffe/spire-api-sdk/proto/spire/api/server/agent/v1"
	bundlev1 "github.com/spiffe/spire-api-sdk/proto/spire/api/server/bundle/v1"
	entryv1 "github.com/spiffe/spire-api-sdk/proto/spire/api/server/entry/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/lanyard-dev/lanyard/agent/attest"
	"github.com/lanyard-dev/lanyard/server/servertest"
)

// Who may call what, over the real server's two endpoints: the README's promise that
// administrative methods need the admin socket or an admin SVID, agent methods an attested
// agent, and that GetBundle is open.
func TestEachKindOfCallerReachesOnlyItsMethods(t *testing.T) {
	s := servertest.Start(t)
	agent := s.AttestAgent()
	callers := map[string]*grpc.ClientConn{
		"admin socket": s.Admin,
		"admin SVID":   s.AdminPeer("/ops").Conn,
		"agent":        agent.Conn,
		"workload":     s.WorkloadPeer("/workload").Conn, // valid, but neither an agent's nor an admin's
		"no SVID":      s.Dial(nil, nil),
	}
	calls := map[string]func(*grpc.ClientConn) error{
		"GetBundle (anyone)": func(c *grpc.ClientConn) error {
			_, err := bundlev1.NewBundleClient(c).GetBundle(t.Context(), &bundlev1.GetBundleRequest{})
			return err
		},
		"CountEntries (admins)": func(c *grpc.ClientConn) error {
			_, err := entryv1.NewEntryClient(c).CountEntries(t.Context(), &entryv1.CountEntriesRequest{})
			return err
		},
		"GetAuthorizedEntries (agents)": func(c *grpc.ClientConn) error {
			_, err := entryv1.NewEntryClient(c).GetAuthorizedEntries(t.Context(), &entryv1.GetAuthorizedEntriesRequest{})
			return err
		},
		"GetFederatedBundle (admins and agents)": func(c *grpc.ClientConn) error {
			_, err := bundlev1.NewBundleClient(c).GetFederatedBundle(t.Context(), &bundlev1.GetFederatedBundleRequest{TrustDomain: "nobody.test"})
			if status.Code(err) == codes.NotFound {
				return nil // let in, and told there is no such bundle
			}
			return err
		},
	}
	allowed := map[string][]string{
		"GetBundle (anyone)":                     {"admin socket", "admin SVID", "agent", "workload", "no SVID"},
		"CountEntries (admins)":                  {"admin socket", "admin SVID"},
		"GetAuthorizedEntries (agents)":          {"agent"},
		"GetFederatedBundle (admins and agents)": {"admin socket", "admin SVID", "agent"},
	}
	for call, f := range calls {
		for caller, conn := range callers {
			want := codes.PermissionDenied
			for _, ok := range allowed[call] {
				if ok == caller {
					want = codes.OK
				}
			}
			if got := status.Code(f(conn)); got != want {
				t.Errorf("%s by %s: %s, want %s", call, caller, got, want)
			}
		}
	}
}

// An agent renewed but still on a connection made with its old SVID: once that SVID
// expires, the agent must reconnect with the new one, not attest again.
func TestAnExpiredSVIDOnARenewedAgentsOldConnectionAsksForAReconnect(t *testing.T) {
	s := servertest.Start(t)
	agent := s.AttestAgent()
	s.Clock.Step(50 * time.Minute)
	renewed, err := attest.Renew(t.Context(), agentv1.NewAgentClient(agent.Conn), agent.ID)
	if err != nil {
		t.Fatal(err)
	}
	s.Clock.Step(10 * time.Minute) // the first SVID's expiry; the renewed one lives on
	_, err = entryv1.NewEntryClient(agent.Conn).GetAuthorizedEntries(t.Context(), &entryv1.GetAuthorizedEntriesRequest{})
	if status.Code(err) != codes.Unauthenticated {
		t.Fatalf("old, expired SVID of a renewed agent: %v; want Unauthenticated (reconnect)", err)
	}
	if _, err := entryv1.NewEntryClient(s.Dial(renewed.Chain, renewed.Key)).GetAuthorizedEntries(t.Context(), &entryv1.GetAuthorizedEntriesRequest{}); err != nil {
		t.Fatalf("the renewed SVID: %v", err)
	}
}
