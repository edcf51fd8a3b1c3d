package admin

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"slices"
	"strings"

	delegatedv1 "github.com/spiffe/spire-api-sdk/proto/spire/api/agent/delegatedidentity/v1"
	"github.com/spiffe/spire-api-sdk/proto/spire/api/types"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// FetchJWTSVIDs returns a JWT-SVID for the audience for each identity of the workload
// named (admin and downstream entries left out), if the caller is a delegate now.
func (s *delegatedService) FetchJWTSVIDs(ctx context.Context, req *delegatedv1.FetchJWTSVIDsRequest) (*delegatedv1.FetchJWTSVIDsResponse, error) {
	if len(req.Audience) == 0 || slices.Contains(req.Audience, "") {
		return nil, status.Error(codes.InvalidArgument, "audience must be specified (non-empty values)")
	}
	if _, err := s.d.authorize(ctx); err != nil {
		return nil, err
	}
	sels, err := selectorsFromProto(req.Selectors)
	if err != nil {
		return nil, err
	}
	sels, proc, err := s.d.workload(ctx, sels, req.Pid)
	if err != nil {
		return nil, err
	}
	if proc != nil {
		defer proc.Close()
	}
	if s.jwt == nil {
		return nil, status.Error(codes.Unavailable, "this agent does not issue JWT-SVIDs")
	}
	resp := &delegatedv1.FetchJWTSVIDsResponse{}
	for _, w := range delegable(s.d.cache.Match(sels), s.d.clk.Now()) {
		token, err := s.jwt.Fetch(ctx, w.Entry, req.Audience)
		if err != nil {
			if ctx.Err() != nil {
				return nil, status.FromContextError(ctx.Err()).Err()
			}
			s.d.log.Warn("could not mint a JWT-SVID for a delegate", "spiffe_id", w.SVID.ID.String(), "error", err)
			return nil, status.Errorf(codes.Unavailable, "could not mint a JWT-SVID for %s: %v", w.SVID.ID, err)
		}
		iat, exp := tokenTimes(token)
		resp.Svids = append(resp.Svids, &types.JWTSVID{
			Token:    token,
			Id:       &types.SPIFFEID{TrustDomain: w.SVID.ID.TrustDomain().Name(), Path: w.SVID.ID.Path()},
			IssuedAt: iat, ExpiresAt: exp, Hint: w.Entry.Hint,
		})
	}
	if proc != nil && proc.Check() != nil {
		return nil, status.Errorf(codes.NotFound, "workload process %d exited", proc.PID)
	}
	if len(resp.Svids) == 0 {
		return nil, status.Error(codes.PermissionDenied, "no identity issued: no entry this agent holds matches the workload")
	}
	return resp, nil
}

// tokenTimes reads the iat and exp claims of a JWT the agent's own server signed (so
// trusted; zero when absent).
func tokenTimes(token string) (iat, exp int64) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return 0, 0
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return 0, 0
	}
	var c struct {
		Iat json.Number `json:"iat"`
		Exp json.Number `json:"exp"`
	}
	if json.Unmarshal(raw, &c) != nil {
		return 0, 0
	}
	iat, _ = c.Iat.Int64()
	exp, _ = c.Exp.Int64()
	return iat, exp
}
