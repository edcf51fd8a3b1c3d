package entry

import (
	"context"
	"errors"
	"io"

	entryv1 "github.com/spiffe/spire-api-sdk/proto/spire/api/server/entry/v1"
	"github.com/spiffe/spire-api-sdk/proto/spire/api/types"
	"google.golang.org/grpc/status"

	"github.com/lanyard-dev/lanyard/server/api"
	"github.com/lanyard-dev/lanyard/server/datastore"
)

// syncPageSize bounds entries or revisions per SyncAuthorizedEntries message.
const syncPageSize = 1000

// SyncAuthorizedEntries implements entryv1.EntryServer for SPIRE agents. Small sets are
// sent whole; larger ones as pages of revisions, after which the agent asks for the
// entries it lacks by ID until it closes its side.
func (s *Service) SyncAuthorizedEntries(stream entryv1.Entry_SyncAuthorizedEntriesServer) error {
	ctx := stream.Context()
	agent, err := callerAgent(ctx)
	if err != nil {
		return err
	}
	first, err := recvOrDone(ctx, stream)
	if err != nil {
		return err
	}
	mask := first.OutputMask
	entries := s.auth.AuthorizedEntries(agent.ID, agent.Selectors)
	if len(entries) <= syncPageSize {
		out := make([]*types.Entry, len(entries))
		for i, e := range entries {
			out[i] = api.EntryToProto(e, mask)
		}
		return stream.Send(&entryv1.SyncAuthorizedEntriesResponse{Entries: out})
	}
	byID := make(map[string]*datastore.Entry, len(entries))
	for start := 0; start < len(entries); start += syncPageSize {
		end := min(start+syncPageSize, len(entries))
		revs := make([]*entryv1.EntryRevision, 0, end-start)
		for _, e := range entries[start:end] {
			byID[e.ID] = e
			revs = append(revs, &entryv1.EntryRevision{Id: e.ID, RevisionNumber: e.RevisionNumber, CreatedAt: e.CreatedAt})
		}
		if err := stream.Send(&entryv1.SyncAuthorizedEntriesResponse{EntryRevisions: revs, More: end < len(entries)}); err != nil {
			return err
		}
	}
	for {
		req, err := recvOrDone(ctx, stream)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if len(req.Ids) > syncPageSize*10 {
			return api.Invalid("sync asked for %d entries at once; at most %d", len(req.Ids), syncPageSize*10)
		}
		var page []*types.Entry
		for i, id := range req.Ids {
			if e, ok := byID[id]; ok {
				page = append(page, api.EntryToProto(e, mask))
			}
			if len(page) == syncPageSize || (i == len(req.Ids)-1) {
				last := i == len(req.Ids)-1
				if err := stream.Send(&entryv1.SyncAuthorizedEntriesResponse{Entries: page, More: !last}); err != nil {
					return err
				}
				page = nil
			}
		}
		if len(req.Ids) == 0 {
			if err := stream.Send(&entryv1.SyncAuthorizedEntriesResponse{}); err != nil {
				return err
			}
		}
	}
}

// recvOrDone receives the agent's next request, or returns when ctx ends (the agent's
// stream ends with the server, which must not wait for the agent to ask again). The
// receiving goroutine ends when the stream does, as the handler returns.
func recvOrDone(ctx context.Context, stream entryv1.Entry_SyncAuthorizedEntriesServer) (*entryv1.SyncAuthorizedEntriesRequest, error) {
	type received struct {
		req *entryv1.SyncAuthorizedEntriesRequest
		err error
	}
	ch := make(chan received, 1)
	go func() {
		req, err := stream.Recv()
		ch <- received{req, err}
	}()
	select {
	case r := <-ch:
		return r.req, r.err
	case <-ctx.Done():
		return nil, status.FromContextError(ctx.Err()).Err()
	}
}
