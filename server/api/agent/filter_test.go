package agent

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	agentv1 "github.com/spiffe/spire-api-sdk/proto/spire/api/server/agent/v1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/lanyard-dev/lanyard/server/datastore"
	"github.com/lanyard-dev/lanyard/server/datastore/sqlite"
)

func TestExpiresBeforeTakesSPIREsTimeFormat(t *testing.T) {
	store, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "ds.sqlite3"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	soon := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, a := range []struct {
		id      string
		expires time.Time
	}{{"spiffe://a.org/spire/agent/join_token/soon", soon}, {"spiffe://a.org/spire/agent/join_token/later", soon.Add(48 * time.Hour)}} {
		if _, err := store.CreateAgent(t.Context(), &datastore.Agent{ID: a.id, AttestationType: "join_token", SerialNumber: "1", ExpiresAt: a.expires.Unix()}); err != nil {
			t.Fatal(err)
		}
	}
	s := New(Config{TrustDomain: spiffeid.RequireTrustDomainFromString("a.org"), Store: store})
	for _, tt := range []struct{ name, before string }{
		{"SPIRE's CLI format", "2030-01-02 00:00:00 +0000 +00"},
		{"Go's time format with a zone name", "2030-01-02 00:00:00 +0000 UTC"},
		{"SPIRE's CLI format with an offset", "2030-01-02 01:00:00 +0100 +01"},
		{"RFC 3339", "2030-01-02T00:00:00Z"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := s.ListAgents(t.Context(), &agentv1.ListAgentsRequest{Filter: &agentv1.ListAgentsRequest_Filter{ByExpiresBefore: tt.before}})
			if err != nil {
				t.Fatal(err)
			}
			if len(resp.Agents) != 1 || resp.Agents[0].Id.Path != "/spire/agent/join_token/soon" {
				t.Fatalf("agents %v, want only the one expiring first", resp.Agents)
			}
		})
	}
	_, err = s.CountAgents(t.Context(), &agentv1.CountAgentsRequest{Filter: &agentv1.CountAgentsRequest_Filter{ByExpiresBefore: "next tuesday"}})
	if status.Code(err) != codes.InvalidArgument {
		t.Fatalf("error %v, want InvalidArgument naming both formats", err)
	}
}
