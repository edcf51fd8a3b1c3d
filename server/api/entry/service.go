// Package entry implements spire-api-sdk's entry/v1 service: registration entries
// for administrators, and the authorized-entry queries agents use.
package entry

import (
	"context"
	"errors"
	"log/slog"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	entryv1 "github.com/spiffe/spire-api-sdk/proto/spire/api/server/entry/v1"
	"github.com/spiffe/spire-api-sdk/proto/spire/api/types"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/lanyard-dev/lanyard/attestors"
	"github.com/lanyard-dev/lanyard/server/api"
	"github.com/lanyard-dev/lanyard/server/datastore"
)

// Authorized answers which entries an agent may obtain SVIDs for.
type Authorized interface {
	AuthorizedEntries(agentID string, agentSelectors []attestors.Selector) []*datastore.Entry
	// Refresh makes the cache apply pending changes now, so writes reach agents at once.
	Refresh(ctx context.Context) error
}

// Config configures the service.
type Config struct {
	TrustDomain spiffeid.TrustDomain
	Store       datastore.EntryStore
	Authorized  Authorized
	Log         *slog.Logger
}

// Service implements entryv1.EntryServer.
type Service struct {
	entryv1.UnimplementedEntryServer
	td        spiffeid.TrustDomain
	store     datastore.EntryStore
	auth      Authorized
	validator api.EntryValidator
	log       *slog.Logger
}

// New returns the service.
func New(cfg Config) *Service {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	return &Service{
		td: cfg.TrustDomain, store: cfg.Store, auth: cfg.Authorized, log: cfg.Log,
		validator: api.EntryValidator{TrustDomain: cfg.TrustDomain},
	}
}

// CountEntries implements entryv1.EntryServer.
func (s *Service) CountEntries(ctx context.Context, req *entryv1.CountEntriesRequest) (*entryv1.CountEntriesResponse, error) {
	f := req.GetFilter()
	filter, err := s.filter(f.GetBySpiffeId(), f.GetByParentId(), f.GetBySelectors(), f.GetByFederatesWith(), f.GetByHint(), f.GetByDownstream())
	if err != nil {
		return nil, err
	}
	n, err := s.store.CountEntries(ctx, filter)
	if err != nil {
		return nil, api.Error("counting entries", err)
	}
	return &entryv1.CountEntriesResponse{Count: int32(n)}, nil
}

// ListEntries implements entryv1.EntryServer.
func (s *Service) ListEntries(ctx context.Context, req *entryv1.ListEntriesRequest) (*entryv1.ListEntriesResponse, error) {
	f := req.GetFilter()
	filter, err := s.filter(f.GetBySpiffeId(), f.GetByParentId(), f.GetBySelectors(), f.GetByFederatesWith(), f.GetByHint(), f.GetByDownstream())
	if err != nil {
		return nil, err
	}
	page, err := api.Page(req.PageSize, req.PageToken)
	if err != nil {
		return nil, err
	}
	entries, next, err := s.store.ListEntries(ctx, filter, page)
	if err != nil {
		return nil, api.Error("listing entries", err)
	}
	resp := &entryv1.ListEntriesResponse{NextPageToken: next, Entries: make([]*types.Entry, len(entries))}
	for i, e := range entries {
		resp.Entries[i] = api.EntryToProto(e, req.OutputMask)
	}
	return resp, nil
}

// GetEntry implements entryv1.EntryServer.
func (s *Service) GetEntry(ctx context.Context, req *entryv1.GetEntryRequest) (*types.Entry, error) {
	if req.Id == "" {
		return nil, api.Invalid("id is required")
	}
	e, err := s.store.GetEntry(ctx, req.Id)
	if err != nil {
		return nil, api.Error("entry "+req.Id, err)
	}
	return api.EntryToProto(e, req.OutputMask), nil
}

// BatchCreateEntry implements entryv1.EntryServer. Invalid items fail alone; the valid
// ones are written in one transaction.
func (s *Service) BatchCreateEntry(ctx context.Context, req *entryv1.BatchCreateEntryRequest) (*entryv1.BatchCreateEntryResponse, error) {
	results := make([]*entryv1.BatchCreateEntryResponse_Result, len(req.Entries))
	var valid []*datastore.Entry
	var where []int
	for i, in := range req.Entries {
		e, err := s.validator.EntryFromProto(in, nil)
		if err != nil {
			// No entry: spire-api-sdk sets it only for OK and ALREADY_EXISTS.
			results[i] = &entryv1.BatchCreateEntryResponse_Result{Status: api.BatchStatus(s.log, "invalid entry", err)}
			continue
		}
		valid = append(valid, e)
		where = append(where, i)
	}
	if len(valid) > 0 {
		stored, err := s.store.CreateEntries(ctx, valid)
		if err != nil {
			return nil, api.Error("creating entries", err)
		}
		for j, r := range stored {
			res := &entryv1.BatchCreateEntryResponse_Result{Status: api.BatchStatus(s.log, "creating entry", r.Err)}
			if r.Entry != nil && (r.Err == nil || errors.Is(r.Err, datastore.ErrAlreadyExists)) {
				res.Entry = api.EntryToProto(r.Entry, req.OutputMask)
			}
			results[where[j]] = res
		}
		s.refresh(ctx)
	}
	return &entryv1.BatchCreateEntryResponse{Results: results}, nil
}

// BatchUpdateEntry implements entryv1.EntryServer.
func (s *Service) BatchUpdateEntry(ctx context.Context, req *entryv1.BatchUpdateEntryRequest) (*entryv1.BatchUpdateEntryResponse, error) {
	results := make([]*entryv1.BatchUpdateEntryResponse_Result, len(req.Entries))
	var valid []*datastore.Entry
	var where []int
	for i, in := range req.Entries {
		e, err := s.validator.EntryFromProto(in, req.InputMask)
		if err == nil && e.ID == "" {
			err = api.Invalid("id is required to update an entry")
		}
		if err != nil {
			results[i] = &entryv1.BatchUpdateEntryResponse_Result{Status: api.BatchStatus(s.log, "invalid entry", err)}
			continue
		}
		valid = append(valid, e)
		where = append(where, i)
	}
	if len(valid) > 0 {
		stored, err := s.store.UpdateEntries(ctx, valid, api.EntryMaskFromProto(req.InputMask))
		if err != nil {
			return nil, api.Error("updating entries", err)
		}
		for j, r := range stored {
			res := &entryv1.BatchUpdateEntryResponse_Result{Status: api.BatchStatus(s.log, "updating entry "+valid[j].ID, r.Err)}
			if r.Err == nil && r.Entry != nil {
				res.Entry = api.EntryToProto(r.Entry, req.OutputMask)
			}
			results[where[j]] = res
		}
		s.refresh(ctx)
	}
	return &entryv1.BatchUpdateEntryResponse{Results: results}, nil
}

// BatchDeleteEntry implements entryv1.EntryServer.
func (s *Service) BatchDeleteEntry(ctx context.Context, req *entryv1.BatchDeleteEntryRequest) (*entryv1.BatchDeleteEntryResponse, error) {
	for _, id := range req.Ids {
		if id == "" {
			return nil, api.Invalid("ids: an empty entry id was given")
		}
	}
	results := make([]*entryv1.BatchDeleteEntryResponse_Result, len(req.Ids))
	if len(req.Ids) == 0 {
		return &entryv1.BatchDeleteEntryResponse{}, nil
	}
	deleted, err := s.store.DeleteEntries(ctx, req.Ids)
	if err != nil {
		return nil, api.Error("deleting entries", err)
	}
	for i, r := range deleted {
		results[i] = &entryv1.BatchDeleteEntryResponse_Result{Id: req.Ids[i], Status: api.BatchStatus(s.log, "deleting entry "+req.Ids[i], r.Err)}
	}
	s.refresh(ctx)
	return &entryv1.BatchDeleteEntryResponse{Results: results}, nil
}

// GetAuthorizedEntries implements entryv1.EntryServer for agents.
func (s *Service) GetAuthorizedEntries(ctx context.Context, req *entryv1.GetAuthorizedEntriesRequest) (*entryv1.GetAuthorizedEntriesResponse, error) {
	agent, err := callerAgent(ctx)
	if err != nil {
		return nil, err
	}
	entries := s.auth.AuthorizedEntries(agent.ID, agent.Selectors)
	resp := &entryv1.GetAuthorizedEntriesResponse{Entries: make([]*types.Entry, len(entries))}
	for i, e := range entries {
		resp.Entries[i] = api.EntryToProto(e, req.OutputMask)
	}
	return resp, nil
}

// refresh pushes local writes to the authorized-entry cache at once. A failure only
// delays propagation until the cache's next poll, so it is logged, not returned.
func (s *Service) refresh(ctx context.Context) {
	if err := s.auth.Refresh(ctx); err != nil {
		s.log.Warn("refreshing entry cache after write", "error", err)
	}
}

func callerAgent(ctx context.Context) (*datastore.Agent, error) {
	c := api.CallerFrom(ctx)
	if c.Kind != api.AgentCaller || c.Agent == nil {
		return nil, status.Error(codes.PermissionDenied, "only attested agents may ask for authorized entries")
	}
	return c.Agent, nil
}
