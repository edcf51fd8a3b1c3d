package verifier

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/lanyard-dev/lanyard/attestors"
	"github.com/lanyard-dev/lanyard/server/datastore"
	"github.com/lanyard-dev/lanyard/server/datastore/sqlite"
)

func TestVerifier(t *testing.T) {
	ctx := context.Background()
	store, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "ds.sqlite3"), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	td := spiffeid.RequireTrustDomainFromString("example.org")
	v := &Verifier{TrustDomain: td, Tokens: store, Clock: clocktesting.NewFakePassiveClock(now)}
	for _, tok := range []datastore.JoinToken{
		{Token: "good", ExpiresAt: now.Add(time.Minute)},
		{Token: "expired", ExpiresAt: now.Add(-time.Second)},
	} {
		if err := store.CreateJoinToken(ctx, &tok); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name    string
		payload string
		wantID  string
		wantErr string
	}{
		{"a valid token yields the join_token agent ID", "good", "spiffe://example.org/spire/agent/join_token/good", ""},
		{"the same token a second time is refused", "good", "", "already been used"},
		{"an expired token is refused", "expired", "", "expired"},
		{"an unknown token is refused", "nope", "", "does not exist"},
		{"a token with a slash cannot smuggle path segments", "a/b", "", "are allowed"},
		{"an empty payload is refused", "", "", "1 to"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := v.Attest(ctx, []byte(tt.payload), nil)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !errors.Is(err, attestors.ErrRejected) {
					t.Fatalf("error = %v, want a rejection mentioning %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.AgentID.String() != tt.wantID || got.CanReattest {
				t.Fatalf("attestation = %+v", got)
			}
		})
	}
}
