package servertest

import (
	"context"
	"strings"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	entryv1 "github.com/spiffe/spire-api-sdk/proto/spire/api/server/entry/v1"
	"github.com/spiffe/spire-api-sdk/proto/spire/api/types"
	"google.golang.org/grpc/codes"

	"github.com/lanyard-dev/lanyard/internal/spireid"
)

// Entry builds a registration entry for spiffe://TD/path, parented to parent, with
// selectors written "type:value" (e.g. "unix:uid:1000").
func (s *Server) Entry(path string, parent spiffeid.ID, selectors ...string) *types.Entry {
	e := &types.Entry{SpiffeId: spireid.ToProto(spiffeid.RequireFromPath(s.TrustDomain, path)), ParentId: spireid.ToProto(parent)}
	for _, sel := range selectors {
		typ, val, _ := strings.Cut(sel, ":")
		e.Selectors = append(e.Selectors, &types.Selector{Type: typ, Value: val})
	}
	return e
}

// CreateEntries registers entries through the admin API and returns them as stored, in
// order; a failed item fails the test.
func (s *Server) CreateEntries(entries ...*types.Entry) []*types.Entry {
	s.t.Helper()
	resp, err := entryv1.NewEntryClient(s.Admin).BatchCreateEntry(context.Background(), &entryv1.BatchCreateEntryRequest{Entries: entries})
	if err != nil {
		s.t.Fatalf("BatchCreateEntry: %v", err)
	}
	out := make([]*types.Entry, len(resp.Results))
	for i, r := range resp.Results {
		if codes.Code(r.Status.Code) != codes.OK {
			s.t.Fatalf("creating entry %d (%v): %s", i, entries[i].SpiffeId, r.Status.Message)
		}
		out[i] = r.Entry
	}
	return out
}
