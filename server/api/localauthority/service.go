// Package localauthority implements spire-api-sdk's server localauthority/v1 service:
// forced rotation. An operator prepares and activates a new X.509 CA, JWT or WIT key ahead of
// schedule, taints the old one (agents replace what it signed at once) and revokes it
// (it leaves the bundle).
package localauthority

import (
	"context"
	"errors"
	"strings"

	localauthorityv1 "github.com/spiffe/spire-api-sdk/proto/spire/api/server/localauthority/v1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/lanyard-dev/lanyard/server/api"
	"github.com/lanyard-dev/lanyard/server/ca"
)

// CA is what the service needs of the server's CA.
type CA interface {
	X509State() ca.Authorities
	JWTState() ca.Authorities
	PrepareX509(ctx context.Context) (*ca.Authority, error)
	PrepareJWT(ctx context.Context) (*ca.Authority, error)
	ActivateX509(ctx context.Context, id string) (*ca.Authority, error)
	ActivateJWT(ctx context.Context, id string) (*ca.Authority, error)
	TaintX509(ctx context.Context, id string) (*ca.Authority, error)
	TaintJWT(ctx context.Context, id string) (*ca.Authority, error)
	RevokeX509(ctx context.Context, id string) (*ca.Authority, error)
	RevokeJWT(ctx context.Context, id string) (*ca.Authority, error)
	WITState() ca.Authorities
	PrepareWIT(ctx context.Context) (*ca.Authority, error)
	ActivateWIT(ctx context.Context, id string) (*ca.Authority, error)
	TaintWIT(ctx context.Context, id string) (*ca.Authority, error)
	RevokeWIT(ctx context.Context, id string) (*ca.Authority, error)
	TaintX509Upstream(ctx context.Context, subjectKeyID string) error
	RevokeX509Upstream(ctx context.Context, subjectKeyID string) error
}

// Config configures the service.
type Config struct {
	CA CA
	// OnChange is called after the bundle changed (prepare, taint, revoke), so that agents
	// are sent the new one without waiting for the next poll.
	OnChange func()
}

// Service implements localauthorityv1.LocalAuthorityServer.
type Service struct {
	localauthorityv1.UnimplementedLocalAuthorityServer
	cfg Config
}

// New returns the service.
func New(cfg Config) *Service {
	if cfg.OnChange == nil {
		cfg.OnChange = func() {}
	}
	return &Service{cfg: cfg}
}

// GetX509AuthorityState implements localauthorityv1.LocalAuthorityServer.
func (s *Service) GetX509AuthorityState(context.Context, *localauthorityv1.GetX509AuthorityStateRequest) (*localauthorityv1.GetX509AuthorityStateResponse, error) {
	st := s.cfg.CA.X509State()
	return &localauthorityv1.GetX509AuthorityStateResponse{Active: toState(st.Active), Prepared: toState(st.Prepared), Old: toState(st.Old)}, nil
}

// GetJWTAuthorityState implements localauthorityv1.LocalAuthorityServer.
func (s *Service) GetJWTAuthorityState(context.Context, *localauthorityv1.GetJWTAuthorityStateRequest) (*localauthorityv1.GetJWTAuthorityStateResponse, error) {
	st := s.cfg.CA.JWTState()
	return &localauthorityv1.GetJWTAuthorityStateResponse{Active: toState(st.Active), Prepared: toState(st.Prepared), Old: toState(st.Old)}, nil
}

// PrepareX509Authority implements localauthorityv1.LocalAuthorityServer.
func (s *Service) PrepareX509Authority(ctx context.Context, _ *localauthorityv1.PrepareX509AuthorityRequest) (*localauthorityv1.PrepareX509AuthorityResponse, error) {
	a, err := s.changed(s.cfg.CA.PrepareX509(ctx))
	if err != nil {
		return nil, caError("preparing X.509 authority", err)
	}
	return &localauthorityv1.PrepareX509AuthorityResponse{PreparedAuthority: toState(a)}, nil
}

// PrepareJWTAuthority implements localauthorityv1.LocalAuthorityServer.
func (s *Service) PrepareJWTAuthority(ctx context.Context, _ *localauthorityv1.PrepareJWTAuthorityRequest) (*localauthorityv1.PrepareJWTAuthorityResponse, error) {
	a, err := s.changed(s.cfg.CA.PrepareJWT(ctx))
	if err != nil {
		return nil, caError("preparing JWT authority", err)
	}
	return &localauthorityv1.PrepareJWTAuthorityResponse{PreparedAuthority: toState(a)}, nil
}

// ActivateX509Authority implements localauthorityv1.LocalAuthorityServer.
func (s *Service) ActivateX509Authority(ctx context.Context, req *localauthorityv1.ActivateX509AuthorityRequest) (*localauthorityv1.ActivateX509AuthorityResponse, error) {
	a, err := s.changed(s.cfg.CA.ActivateX509(ctx, req.AuthorityId))
	if err != nil {
		return nil, caError("activating X.509 authority", err)
	}
	return &localauthorityv1.ActivateX509AuthorityResponse{ActivatedAuthority: toState(a)}, nil
}

// ActivateJWTAuthority implements localauthorityv1.LocalAuthorityServer.
func (s *Service) ActivateJWTAuthority(ctx context.Context, req *localauthorityv1.ActivateJWTAuthorityRequest) (*localauthorityv1.ActivateJWTAuthorityResponse, error) {
	a, err := s.changed(s.cfg.CA.ActivateJWT(ctx, req.AuthorityId))
	if err != nil {
		return nil, caError("activating JWT authority", err)
	}
	return &localauthorityv1.ActivateJWTAuthorityResponse{ActivatedAuthority: toState(a)}, nil
}

// TaintX509Authority implements localauthorityv1.LocalAuthorityServer.
func (s *Service) TaintX509Authority(ctx context.Context, req *localauthorityv1.TaintX509AuthorityRequest) (*localauthorityv1.TaintX509AuthorityResponse, error) {
	a, err := s.changed(s.cfg.CA.TaintX509(ctx, req.AuthorityId))
	if err != nil {
		return nil, caError("tainting X.509 authority", err)
	}
	return &localauthorityv1.TaintX509AuthorityResponse{TaintedAuthority: toState(a)}, nil
}

// TaintJWTAuthority implements localauthorityv1.LocalAuthorityServer.
func (s *Service) TaintJWTAuthority(ctx context.Context, req *localauthorityv1.TaintJWTAuthorityRequest) (*localauthorityv1.TaintJWTAuthorityResponse, error) {
	a, err := s.changed(s.cfg.CA.TaintJWT(ctx, req.AuthorityId))
	if err != nil {
		return nil, caError("tainting JWT authority", err)
	}
	return &localauthorityv1.TaintJWTAuthorityResponse{TaintedAuthority: toState(a)}, nil
}

// RevokeX509Authority implements localauthorityv1.LocalAuthorityServer.
func (s *Service) RevokeX509Authority(ctx context.Context, req *localauthorityv1.RevokeX509AuthorityRequest) (*localauthorityv1.RevokeX509AuthorityResponse, error) {
	a, err := s.changed(s.cfg.CA.RevokeX509(ctx, req.AuthorityId))
	if err != nil {
		return nil, caError("revoking X.509 authority", err)
	}
	return &localauthorityv1.RevokeX509AuthorityResponse{RevokedAuthority: toState(a)}, nil
}

// RevokeJWTAuthority implements localauthorityv1.LocalAuthorityServer.
func (s *Service) RevokeJWTAuthority(ctx context.Context, req *localauthorityv1.RevokeJWTAuthorityRequest) (*localauthorityv1.RevokeJWTAuthorityResponse, error) {
	a, err := s.changed(s.cfg.CA.RevokeJWT(ctx, req.AuthorityId))
	if err != nil {
		return nil, caError("revoking JWT authority", err)
	}
	return &localauthorityv1.RevokeJWTAuthorityResponse{RevokedAuthority: toState(a)}, nil
}

// TaintX509UpstreamAuthority implements localauthorityv1.LocalAuthorityServer.
func (s *Service) TaintX509UpstreamAuthority(ctx context.Context, req *localauthorityv1.TaintX509UpstreamAuthorityRequest) (*localauthorityv1.TaintX509UpstreamAuthorityResponse, error) {
	if _, err := s.changed(nil, s.cfg.CA.TaintX509Upstream(ctx, req.SubjectKeyId)); err != nil {
		return nil, caError("tainting upstream X.509 authority", err)
	}
	return &localauthorityv1.TaintX509UpstreamAuthorityResponse{UpstreamAuthoritySubjectKeyId: req.SubjectKeyId}, nil
}

// RevokeX509UpstreamAuthority implements localauthorityv1.LocalAuthorityServer.
func (s *Service) RevokeX509UpstreamAuthority(ctx context.Context, req *localauthorityv1.RevokeX509UpstreamAuthorityRequest) (*localauthorityv1.RevokeX509UpstreamAuthorityResponse, error) {
	if _, err := s.changed(nil, s.cfg.CA.RevokeX509Upstream(ctx, req.SubjectKeyId)); err != nil {
		return nil, caError("revoking upstream X.509 authority", err)
	}
	return &localauthorityv1.RevokeX509UpstreamAuthorityResponse{UpstreamAuthoritySubjectKeyId: req.SubjectKeyId}, nil
}

// changed passes a result through, telling the bundle's followers when it succeeded.
func (s *Service) changed(a *ca.Authority, err error) (*ca.Authority, error) {
	if err == nil {
		s.cfg.OnChange()
	}
	return a, err
}

func toState(a *ca.Authority) *localauthorityv1.AuthorityState {
	if a == nil {
		return nil
	}
	return &localauthorityv1.AuthorityState{AuthorityId: a.ID, ExpiresAt: a.ExpiresAt.Unix(), UpstreamAuthoritySubjectKeyId: a.UpstreamID}
}

// caError maps the CA's refusals to status codes (as SPIRE answers them); everything else
// goes the API's usual way.
func caError(what string, err error) error {
	for _, m := range []struct {
		sentinel error
		code     codes.Code
	}{
		{ca.ErrAuthorityNotFound, codes.NotFound},
		{ca.ErrAuthorityState, codes.InvalidArgument},
		{ca.ErrUpstreamSetup, codes.FailedPrecondition},
	} {
		if errors.Is(err, m.sentinel) {
			return status.Error(m.code, what+": "+strings.TrimSuffix(err.Error(), ": "+m.sentinel.Error()))
		}
	}
	return api.Error(what, err)
}
