package workloadapi

import (
	"context"
	"slices"

	"github.com/spiffe/go-spiffe/v2/bundle/jwtbundle"
	"github.com/spiffe/go-spiffe/v2/proto/spiffe/workload"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/svid/jwtsvid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/lanyard-dev/lanyard/agent/cache"
)

// CheckJWTRequest checks a request for JWT-SVIDs (Workload API, Broker API): at least one
// audience and no empty one, and the SPIFFE ID asked for, if any (zero when none). Its
// errors are InvalidArgument statuses.
func CheckJWTRequest(audience []string, spiffeID string) (spiffeid.ID, error) {
	if len(audience) == 0 || slices.Contains(audience, "") {
		return spiffeid.ID{}, status.Error(codes.InvalidArgument, "audience must be specified (non-empty values)")
	}
	if spiffeID == "" {
		return spiffeid.ID{}, nil
	}
	id, err := spiffeid.FromString(spiffeID)
	if err != nil {
		return spiffeid.ID{}, status.Errorf(codes.InvalidArgument, "spiffe_id %q is not a SPIFFE ID: %v", spiffeID, err)
	}
	return id, nil
}

// FetchJWTSVID returns a JWT-SVID for the audience for each of the caller's identities,
// or only for the requested SPIFFE ID.
func (s *Server) FetchJWTSVID(ctx context.Context, req *workload.JWTSVIDRequest) (*workload.JWTSVIDResponse, error) {
	want, err := CheckJWTRequest(req.Audience, req.SpiffeId)
	if err != nil {
		return nil, err
	}
	if s.cfg.JWT == nil {
		return nil, status.Error(codes.Unavailable, "this agent does not issue JWT-SVIDs")
	}
	c, err := s.attest(ctx)
	if err != nil {
		return nil, err
	}
	u := s.cfg.Cache.Match(c.selectors)
	resp := &workload.JWTSVIDResponse{}
	room := s.newBudget(resp)
	for _, id := range u.Identities {
		if !want.IsZero() && id.SVID.ID != want {
			continue
		}
		token, err := s.cfg.JWT.Fetch(ctx, id.Entry, req.Audience)
		if err != nil {
			if ctx.Err() != nil {
				return nil, status.FromContextError(ctx.Err()).Err()
			}
			s.log.Warn("could not mint a JWT-SVID", "spiffe_id", id.SVID.ID.String(), "error", err)
			return nil, status.Errorf(codes.Unavailable, "could not mint a JWT-SVID for %s: %v", id.SVID.ID, err)
		}
		svid := &workload.JWTSVID{SpiffeId: id.SVID.ID.String(), Svid: token, Hint: id.Entry.Hint}
		if !room.fits(svid) {
			// Tokens are minted one by one as the loop goes: stopping here also stops
			// the agent from minting thousands nobody can receive.
			s.truncated("FetchJWTSVID", len(u.Identities), len(resp.Svids))
			break
		}
		resp.Svids = append(resp.Svids, svid)
	}
	if len(resp.Svids) == 0 {
		if !want.IsZero() {
			return nil, status.Errorf(codes.PermissionDenied, "no identity issued for %s", want)
		}
		return nil, errNoIdentity
	}
	return resp, nil
}

// FetchJWTBundles streams the JWT bundles (JWKS) the caller may use.
func (s *Server) FetchJWTBundles(_ *workload.JWTBundlesRequest, stream grpc.ServerStreamingServer[workload.JWTBundlesResponse]) error {
	var last *cache.WorkloadUpdate
	return s.follow(stream.Context(), func(u *cache.WorkloadUpdate) error {
		if err := s.bundlesAllowed(u); err != nil {
			return err
		}
		if last != nil && sameBundles(last, u) {
			return nil
		}
		last = u
		resp := &workload.JWTBundlesResponse{Bundles: map[string][]byte{u.Bundle.TrustDomain.IDString(): u.Bundle.JWKS}}
		for td, b := range u.FederatedBundles {
			resp.Bundles[td.IDString()] = b.JWKS
		}
		return stream.Send(resp)
	})
}

// ValidateJWTSVID checks a JWT-SVID's signature against the agent's own JWT bundle and
// the federated ones the caller's entries federate with, then its audience and expiry.
// Callers need no identity of their own to validate.
func (s *Server) ValidateJWTSVID(ctx context.Context, req *workload.ValidateJWTSVIDRequest) (*workload.ValidateJWTSVIDResponse, error) {
	if req.Audience == "" {
		return nil, status.Error(codes.InvalidArgument, "audience must be specified")
	}
	if req.Svid == "" {
		return nil, status.Error(codes.InvalidArgument, "svid must be specified")
	}
	c, err := s.attest(ctx)
	if err != nil {
		return nil, err
	}
	u := s.cfg.Cache.Match(c.selectors)
	if u.Bundle == nil {
		return nil, errNoBundle
	}
	set := jwtbundle.NewSet(u.Bundle.Bundle.JWTBundle())
	for _, b := range u.FederatedBundles {
		set.Add(b.Bundle.JWTBundle())
	}
	svid, err := jwtsvid.ParseAndValidate(req.Svid, set, []string{req.Audience})
	if err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "invalid JWT-SVID: %v", err)
	}
	claims, err := structpb.NewStruct(svid.Claims)
	if err != nil {
		return nil, status.Errorf(codes.Internal, "encoding JWT-SVID claims: %v", err)
	}
	return &workload.ValidateJWTSVIDResponse{SpiffeId: svid.ID.String(), Claims: claims}, nil
}
