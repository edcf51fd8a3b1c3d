// Package trustdomain implements spire-api-sdk's trustdomain/v1 service: federation
// relationships (administrators only) and on-demand bundle refreshes.
package trustdomain

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	trustdomainv1 "github.com/spiffe/spire-api-sdk/proto/spire/api/server/trustdomain/v1"
	"github.com/spiffe/spire-api-sdk/proto/spire/api/types"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/lanyard-dev/lanyard/server/api"
	"github.com/lanyard-dev/lanyard/server/datastore"
	"github.com/lanyard-dev/lanyard/server/federation"
)

// Refresher fetches a partner's bundle on demand.
type Refresher interface {
	// RefreshBundle returns an error wrapping datastore.ErrNotFound when there is no
	// relationship with trustDomain.
	RefreshBundle(ctx context.Context, trustDomain string) error
}

// Config configures the service.
type Config struct {
	TrustDomain spiffeid.TrustDomain
	// Store is nil when the datastore cannot keep relationships; every method then
	// answers Unimplemented.
	Store     federation.Store
	Refresher Refresher
	// Managed reports whether a trust domain's relationship comes from the configuration
	// file; such relationships cannot be changed or deleted through the API (may be nil).
	Managed func(trustDomain string) bool
	// OnChange is called after relationships or bundles changed (may be nil).
	OnChange func()
	Log      *slog.Logger
}

// Service implements trustdomainv1.TrustDomainServer.
type Service struct {
	trustdomainv1.UnimplementedTrustDomainServer
	cfg Config
}

// New returns the service.
func New(cfg Config) *Service {
	if cfg.OnChange == nil {
		cfg.OnChange = func() {}
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Managed == nil {
		cfg.Managed = func(string) bool { return false }
	}
	return &Service{cfg: cfg}
}

var errNoStore = status.Error(codes.Unimplemented, "this server's datastore does not support federation relationships")

// ListFederationRelationships implements trustdomainv1.TrustDomainServer.
func (s *Service) ListFederationRelationships(ctx context.Context, req *trustdomainv1.ListFederationRelationshipsRequest) (*trustdomainv1.ListFederationRelationshipsResponse, error) {
	if s.cfg.Store == nil {
		return nil, errNoStore
	}
	page, err := api.Page(req.PageSize, req.PageToken)
	if err != nil {
		return nil, err
	}
	rels, next, err := s.cfg.Store.ListFederationRelationships(ctx, page)
	if err != nil {
		return nil, api.Error("listing federation relationships", err)
	}
	resp := &trustdomainv1.ListFederationRelationshipsResponse{NextPageToken: next}
	for _, r := range rels {
		out, err := s.toProto(ctx, r, req.OutputMask)
		if err != nil {
			return nil, api.Error("listing federation relationships", err)
		}
		resp.FederationRelationships = append(resp.FederationRelationships, out)
	}
	return resp, nil
}

// GetFederationRelationship implements trustdomainv1.TrustDomainServer.
func (s *Service) GetFederationRelationship(ctx context.Context, req *trustdomainv1.GetFederationRelationshipRequest) (*types.FederationRelationship, error) {
	if s.cfg.Store == nil {
		return nil, errNoStore
	}
	name, err := s.partnerName(req.TrustDomain)
	if err != nil {
		return nil, err
	}
	r, err := s.cfg.Store.GetFederationRelationship(ctx, name)
	if err != nil {
		return nil, api.Error("federation relationship with "+name, err)
	}
	out, err := s.toProto(ctx, r, req.OutputMask)
	if err != nil {
		return nil, api.Error("federation relationship with "+name, err)
	}
	return out, nil
}

// BatchCreateFederationRelationship implements trustdomainv1.TrustDomainServer.
func (s *Service) BatchCreateFederationRelationship(ctx context.Context, req *trustdomainv1.BatchCreateFederationRelationshipRequest) (*trustdomainv1.BatchCreateFederationRelationshipResponse, error) {
	if s.cfg.Store == nil {
		return nil, errNoStore
	}
	resp := &trustdomainv1.BatchCreateFederationRelationshipResponse{}
	changed := false
	for _, in := range req.FederationRelationships {
		out, err := s.create(ctx, in, req.OutputMask)
		changed = changed || err == nil
		resp.Results = append(resp.Results, &trustdomainv1.BatchCreateFederationRelationshipResponse_Result{
			Status: api.BatchStatus(s.cfg.Log, "creating federation relationship with "+in.GetTrustDomain(), err), FederationRelationship: out})
	}
	if changed {
		s.cfg.OnChange()
	}
	return resp, nil
}

func (s *Service) create(ctx context.Context, in *types.FederationRelationship, mask *types.FederationRelationshipMask) (*types.FederationRelationship, error) {
	rel, bundle, err := s.fromProto(in)
	if err != nil {
		return nil, err
	}
	r, err := s.cfg.Store.CreateFederationRelationship(ctx, rel, bundle)
	if err != nil {
		return nil, err
	}
	s.cfg.Log.Info("federation relationship created", "trust_domain", r.TrustDomain, "url", r.BundleEndpointURL, "profile", string(r.Profile))
	return s.toProto(ctx, r, mask)
}

// BatchUpdateFederationRelationship implements trustdomainv1.TrustDomainServer.
func (s *Service) BatchUpdateFederationRelationship(ctx context.Context, req *trustdomainv1.BatchUpdateFederationRelationshipRequest) (*trustdomainv1.BatchUpdateFederationRelationshipResponse, error) {
	if s.cfg.Store == nil {
		return nil, errNoStore
	}
	in := req.InputMask
	if in == nil {
		in = &types.FederationRelationshipMask{BundleEndpointUrl: true, BundleEndpointProfile: true, TrustDomainBundle: true}
	}
	resp := &trustdomainv1.BatchUpdateFederationRelationshipResponse{}
	changed := false
	for _, r := range req.FederationRelationships {
		out, err := s.update(ctx, r, in, req.OutputMask)
		changed = changed || err == nil
		resp.Results = append(resp.Results, &trustdomainv1.BatchUpdateFederationRelationshipResponse_Result{
			Status: api.BatchStatus(s.cfg.Log, "updating federation relationship with "+r.GetTrustDomain(), err), FederationRelationship: out})
	}
	if changed {
		s.cfg.OnChange()
	}
	return resp, nil
}

func (s *Service) update(ctx context.Context, in *types.FederationRelationship, mask, out *types.FederationRelationshipMask) (*types.FederationRelationship, error) {
	name, err := api.TrustDomainName(in.GetTrustDomain())
	if err != nil {
		return nil, invalid("trust_domain: %v", err)
	}
	if err := s.notManaged(name); err != nil {
		return nil, err
	}
	cur, err := s.cfg.Store.GetFederationRelationship(ctx, name)
	if err != nil {
		return nil, err
	}
	// Validate the relationship as it will be after the update, so a half-given update
	// cannot leave it unusable.
	merged := &types.FederationRelationship{TrustDomain: name, BundleEndpointUrl: cur.BundleEndpointURL, TrustDomainBundle: in.TrustDomainBundle}
	setProfile(merged, cur)
	if mask.BundleEndpointUrl {
		merged.BundleEndpointUrl = in.BundleEndpointUrl
	}
	if mask.BundleEndpointProfile {
		merged.BundleEndpointProfile = in.BundleEndpointProfile
	}
	if !mask.TrustDomainBundle {
		merged.TrustDomainBundle = nil
	}
	rel, bundle, err := s.fromProto(merged)
	if err != nil {
		return nil, err
	}
	r, err := s.cfg.Store.UpdateFederationRelationship(ctx, rel,
		datastore.FederationRelationshipMask{BundleEndpointURL: true, Profile: true}, bundle)
	if err != nil {
		return nil, err
	}
	s.cfg.Log.Info("federation relationship updated", "trust_domain", r.TrustDomain, "url", r.BundleEndpointURL, "profile", string(r.Profile))
	return s.toProto(ctx, r, out)
}

// BatchDeleteFederationRelationship implements trustdomainv1.TrustDomainServer. The
// partner's bundle goes with the relationship.
func (s *Service) BatchDeleteFederationRelationship(ctx context.Context, req *trustdomainv1.BatchDeleteFederationRelationshipRequest) (*trustdomainv1.BatchDeleteFederationRelationshipResponse, error) {
	if s.cfg.Store == nil {
		return nil, errNoStore
	}
	resp := &trustdomainv1.BatchDeleteFederationRelationshipResponse{}
	changed := false
	for _, td := range req.TrustDomains {
		name, err := api.TrustDomainName(td)
		if err != nil {
			err = invalid("trust_domain: %v", err)
		} else if err = s.notManaged(name); err == nil {
			err = s.cfg.Store.DeleteFederationRelationship(ctx, name)
		}
		if err == nil {
			changed = true
			s.cfg.Log.Info("federation relationship deleted", "trust_domain", name)
		}
		resp.Results = append(resp.Results, &trustdomainv1.BatchDeleteFederationRelationshipResponse_Result{
			TrustDomain: td, Status: api.BatchStatus(s.cfg.Log, "deleting federation relationship with "+td, err)})
	}
	if changed {
		s.cfg.OnChange()
	}
	return resp, nil
}

// RefreshBundle implements trustdomainv1.TrustDomainServer: fetch the partner's bundle now.
func (s *Service) RefreshBundle(ctx context.Context, req *trustdomainv1.RefreshBundleRequest) (*emptypb.Empty, error) {
	if s.cfg.Store == nil {
		return nil, errNoStore
	}
	name, err := s.partnerName(req.TrustDomain)
	if err != nil {
		return nil, err
	}
	err = s.cfg.Refresher.RefreshBundle(ctx, name)
	switch {
	case errors.Is(err, datastore.ErrNotFound):
		return nil, status.Errorf(codes.NotFound, "no federation relationship with %s: create one first", name)
	case err != nil:
		return nil, status.Errorf(codes.Unavailable, "refreshing the bundle of %s: %v", name, err)
	}
	return &emptypb.Empty{}, nil
}

func (s *Service) partnerName(td string) (string, error) {
	name, err := api.TrustDomainName(td)
	if err != nil {
		return "", api.Invalid("trust_domain: %v", err)
	}
	if name == s.cfg.TrustDomain.Name() {
		return "", api.Invalid("%q is this server's own trust domain; relationships are with other trust domains", name)
	}
	return name, nil
}

func (s *Service) notManaged(name string) error {
	if s.cfg.Managed(name) {
		return status.Errorf(codes.FailedPrecondition, "the relationship with %s comes from the server configuration "+
			"(federation.federates_with.%s); change or remove it there and restart the server", name, name)
	}
	return nil
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", api.ErrInvalid, fmt.Sprintf(format, args...))
}
