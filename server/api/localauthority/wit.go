package localauthority

import (
	"context"

	localauthorityv1 "github.com/spiffe/spire-api-sdk/proto/spire/api/server/localauthority/v1"
)

// GetWITAuthorityState implements localauthorityv1.LocalAuthorityServer.
func (s *Service) GetWITAuthorityState(context.Context, *localauthorityv1.GetWITAuthorityStateRequest) (*localauthorityv1.GetWITAuthorityStateResponse, error) {
	st := s.cfg.CA.WITState()
	return &localauthorityv1.GetWITAuthorityStateResponse{Active: toState(st.Active), Prepared: toState(st.Prepared), Old: toState(st.Old)}, nil
}

// PrepareWITAuthority implements localauthorityv1.LocalAuthorityServer.
func (s *Service) PrepareWITAuthority(ctx context.Context, _ *localauthorityv1.PrepareWITAuthorityRequest) (*localauthorityv1.PrepareWITAuthorityResponse, error) {
	a, err := s.changed(s.cfg.CA.PrepareWIT(ctx))
	if err != nil {
		return nil, caError("preparing WIT authority", err)
	}
	return &localauthorityv1.PrepareWITAuthorityResponse{PreparedAuthority: toState(a)}, nil
}

// ActivateWITAuthority implements localauthorityv1.LocalAuthorityServer.
func (s *Service) ActivateWITAuthority(ctx context.Context, req *localauthorityv1.ActivateWITAuthorityRequest) (*localauthorityv1.ActivateWITAuthorityResponse, error) {
	a, err := s.changed(s.cfg.CA.ActivateWIT(ctx, req.AuthorityId))
	if err != nil {
		return nil, caError("activating WIT authority", err)
	}
	return &localauthorityv1.ActivateWITAuthorityResponse{ActivatedAuthority: toState(a)}, nil
}

// TaintWITAuthority implements localauthorityv1.LocalAuthorityServer.
func (s *Service) TaintWITAuthority(ctx context.Context, req *localauthorityv1.TaintWITAuthorityRequest) (*localauthorityv1.TaintWITAuthorityResponse, error) {
	a, err := s.changed(s.cfg.CA.TaintWIT(ctx, req.AuthorityId))
	if err != nil {
		return nil, caError("tainting WIT authority", err)
	}
	return &localauthorityv1.TaintWITAuthorityResponse{TaintedAuthority: toState(a)}, nil
}

// RevokeWITAuthority implements localauthorityv1.LocalAuthorityServer.
func (s *Service) RevokeWITAuthority(ctx context.Context, req *localauthorityv1.RevokeWITAuthorityRequest) (*localauthorityv1.RevokeWITAuthorityResponse, error) {
	a, err := s.changed(s.cfg.CA.RevokeWIT(ctx, req.AuthorityId))
	if err != nil {
		return nil, caError("revoking WIT authority", err)
	}
	return &localauthorityv1.RevokeWITAuthorityResponse{RevokedAuthority: toState(a)}, nil
}
