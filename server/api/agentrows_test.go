package api_test

import (
	"context"
	"crypto/x509"
	"math/big"
	"path/filepath"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/lanyard-dev/lanyard/server/api"
	"github.com/lanyard-dev/lanyard/server/datastore"
	"github.com/lanyard-dev/lanyard/server/datastore/sqlite"
)

// countingStore counts the agent reads that reach the real datastore.
type countingStore struct {
	*sqlite.Store
	reads int
}

func (c *countingStore) GetAgent(ctx context.Context, id string) (*datastore.Agent, error) {
	c.reads++
	return c.Store.GetAgent(ctx, id)
}

// openAgentStore opens a real SQLite datastore holding one agent with id and serial.
func openAgentStore(t *testing.T, id spiffeid.ID, serial string, notAfter time.Time) *sqlite.Store {
	t.Helper()
	sq, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "ds.sqlite3"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sq.Close() })
	if _, err := sq.CreateAgent(t.Context(), &datastore.Agent{ID: id.String(), AttestationType: "join_token", SerialNumber: serial, ExpiresAt: notAfter.Unix()}); err != nil {
		t.Fatal(err)
	}
	return sq
}

func TestAgentRowsAnswerRepeatedCallsAndFollowChanges(t *testing.T) {
	ctx := t.Context()
	clk := clocktesting.NewFakeClock(time.Unix(1_800_000_000, 0))
	id := spiffeid.RequireFromString("spiffe://example.org/spire/agent/join_token/a")
	notAfter := clk.Now().Add(time.Hour)
	sq := openAgentStore(t, id, "1", notAfter)
	store := &countingStore{Store: sq}
	authn := &api.Authenticator{TrustDomain: id.TrustDomain(), Agents: store, Now: clk.Now, AgentRowTTL: 5 * time.Second}
	leaf := func(serial int64) *x509.Certificate {
		return &x509.Certificate{SerialNumber: big.NewInt(serial), NotAfter: notAfter}
	}
	check := func(serial int64) codes.Code {
		_, err := authn.CheckAgentCert(ctx, id, leaf(serial))
		return status.Code(err)
	}
	ban := func() {
		t.Helper()
		if _, err := sq.UpdateAgent(ctx, &datastore.Agent{ID: id.String(), Banned: true}, datastore.AgentMask{Banned: true}, nil); err != nil {
			t.Fatal(err)
		}
	}

	for range 100 {
		if c := check(1); c != codes.OK {
			t.Fatalf("current SVID: %v", c)
		}
	}
	if store.reads != 1 {
		t.Errorf("100 calls of one agent read its row %d times, want once", store.reads)
	}

	// Renewed on this or another server: the new SVID is activated at its first use, and
	// the old one is refused from then on.
	if _, err := sq.UpdateAgent(ctx, &datastore.Agent{ID: id.String(), NewSerialNumber: "2", NewExpiresAt: notAfter.Unix()},
		datastore.AgentMask{NewSerialNumber: true, NewExpiresAt: true}, nil); err != nil {
		t.Fatal(err)
	}
	if c := check(2); c != codes.OK {
		t.Fatalf("renewed SVID at first use: %v", c)
	}
	if c := check(1); c != codes.PermissionDenied {
		t.Errorf("old SVID after the renewed one was used: %v, want PermissionDenied", c)
	}

	// Banned by another server sharing the datastore: refused once AgentRowTTL has passed.
	ban()
	clk.Step(5 * time.Second)
	if c := check(2); c != codes.PermissionDenied {
		t.Errorf("agent banned elsewhere, after AgentRowTTL: %v, want PermissionDenied", c)
	}
}

func TestAgentRowsForgetMakesAChangeOnThisServerCountAtOnce(t *testing.T) {
	ctx := t.Context()
	clk := clocktesting.NewFakeClock(time.Unix(1_800_000_000, 0))
	id := spiffeid.RequireFromString("spiffe://example.org/spire/agent/join_token/b")
	leaf := &x509.Certificate{SerialNumber: big.NewInt(7), NotAfter: clk.Now().Add(time.Hour)}
	sq := openAgentStore(t, id, "7", leaf.NotAfter)
	authn := &api.Authenticator{TrustDomain: id.TrustDomain(), Agents: sq, Now: clk.Now, AgentRowTTL: time.Hour}
	if _, err := authn.CheckAgentCert(ctx, id, leaf); err != nil {
		t.Fatal(err)
	}
	if err := sq.DeleteAgent(ctx, id.String()); err != nil {
		t.Fatal(err)
	}
	authn.Forget(id)
	if _, err := authn.CheckAgentCert(ctx, id, leaf); status.Code(err) != codes.PermissionDenied {
		t.Errorf("evicted agent after Forget: %v, want PermissionDenied", err)
	}
}

// banDuringRead bans the agent (as this server's BanAgent does: datastore write, then
// Forget) while a call's read of the agent row is in flight, returning the row as it was.
type banDuringRead struct {
	*sqlite.Store
	authn *api.Authenticator
	id    spiffeid.ID
	armed bool
}

func (b *banDuringRead) GetAgent(ctx context.Context, id string) (*datastore.Agent, error) {
	row, err := b.Store.GetAgent(ctx, id)
	if b.armed {
		b.armed = false
		if _, err := b.Store.UpdateAgent(ctx, &datastore.Agent{ID: id, Banned: true}, datastore.AgentMask{Banned: true}, nil); err != nil {
			return nil, err
		}
		b.authn.Forget(b.id)
	}
	return row, err
}

func TestAgentRowsABanRacingARowReadIsNotUndone(t *testing.T) {
	ctx := t.Context()
	clk := clocktesting.NewFakeClock(time.Unix(1_800_000_000, 0))
	id := spiffeid.RequireFromString("spiffe://example.org/spire/agent/join_token/c")
	leaf := &x509.Certificate{SerialNumber: big.NewInt(9), NotAfter: clk.Now().Add(time.Hour)}
	store := &banDuringRead{Store: openAgentStore(t, id, "9", leaf.NotAfter), id: id, armed: true}
	authn := &api.Authenticator{TrustDomain: id.TrustDomain(), Agents: store, Now: clk.Now, AgentRowTTL: time.Hour}
	store.authn = authn
	// The call whose read the ban overtook may still pass: it read before the ban.
	if _, err := authn.CheckAgentCert(ctx, id, leaf); err != nil {
		t.Fatal(err)
	}
	// Every call after the ban must see it, not the row read before it.
	if _, err := authn.CheckAgentCert(ctx, id, leaf); status.Code(err) != codes.PermissionDenied {
		t.Errorf("a call after the ban: %v, want PermissionDenied", err)
	}
}
