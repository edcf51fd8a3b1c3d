package workloadapi

import (
	"slices"

	"github.com/spiffe/go-spiffe/v2/proto/spiffe/workload"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/lanyard-dev/lanyard/agent/cache"
)

// errWITOff answers the WIT methods of an agent configured without WIT-SVIDs.
var errWITOff = status.Error(codes.Unimplemented, "this agent does not serve WIT-SVIDs (workload_api.wit_svids: false)")

// FetchWITSVID streams the caller's WIT-SVIDs, each with the private key its cnf claim
// binds, or only the one for the requested SPIFFE ID; a new message follows every
// rotation. The agent mints WIT-SVIDs only for entries some workload has asked them of
// (cache.SubscribeWIT), so the first request waits for them. With none (no matching
// entry, or a server that issues no WIT-SVIDs) the stream ends with PermissionDenied,
// as FetchX509SVID's does.
func (s *Server) FetchWITSVID(req *workload.WITSVIDRequest, stream grpc.ServerStreamingServer[workload.WITSVIDResponse]) error {
	if s.cfg.NoWIT {
		return errWITOff
	}
	var want spiffeid.ID
	if req.SpiffeId != "" {
		id, err := spiffeid.FromString(req.SpiffeId)
		if err != nil {
			return status.Errorf(codes.InvalidArgument, "spiffe_id %q is not a SPIFFE ID: %v", req.SpiffeId, err)
		}
		want = id
	}
	var last []cache.WITIdentity
	sent := false
	return s.followWith(stream.Context(), s.cfg.Cache.SubscribeWIT, func(u *cache.WorkloadUpdate) error {
		wits := u.WITs
		if !want.IsZero() {
			wits = slices.DeleteFunc(slices.Clone(wits), func(w cache.WITIdentity) bool { return w.SVID.ID != want })
		}
		if len(wits) == 0 && u.WITPending {
			return nil // minted on this first request: the next update brings it
		}
		if len(wits) == 0 {
			if !want.IsZero() && len(u.WITs) > 0 {
				return status.Errorf(codes.PermissionDenied, "no WIT-SVID issued for %s", want)
			}
			return errNoIdentity
		}
		if sent && slices.Equal(wits, last) {
			return nil // only X.509-SVIDs or bundles changed
		}
		last, sent = wits, true
		resp := &workload.WITSVIDResponse{Svids: make([]*workload.WITSVID, 0, len(wits))}
		room := s.newBudget(resp)
		for _, w := range wits {
			svid := &workload.WITSVID{SpiffeId: w.SVID.ID.String(), WitSvid: w.SVID.Token, WitSvidKey: w.SVID.KeyJWK, Hint: w.Entry.Hint}
			if !room.fits(svid) {
				s.truncated("FetchWITSVID", len(wits), len(resp.Svids))
				break
			}
			resp.Svids = append(resp.Svids, svid)
		}
		return stream.Send(resp)
	})
}

// FetchWITBundles streams the WIT bundles (JWK Sets of "use": "wit-svid" keys) the caller
// may use: the agent's own trust domain's, and those of the federated trust domains its
// entries federate with that publish WIT authorities.
func (s *Server) FetchWITBundles(_ *workload.WITBundlesRequest, stream grpc.ServerStreamingServer[workload.WITBundlesResponse]) error {
	if s.cfg.NoWIT {
		return errWITOff
	}
	var last *cache.WorkloadUpdate
	return s.follow(stream.Context(), func(u *cache.WorkloadUpdate) error {
		if len(u.Identities) == 0 && len(u.WITs) == 0 && !s.cfg.AllowUnauthenticatedVerifiers {
			return errNoIdentity
		}
		if u.Bundle == nil {
			return errNoBundle
		}
		if last != nil && sameBundles(last, u) {
			return nil
		}
		last = u
		resp := &workload.WITBundlesResponse{Bundles: map[string]string{u.Bundle.TrustDomain.IDString(): string(u.Bundle.WITJWKS)}}
		for td, b := range u.FederatedBundles {
			if len(b.Bundle.WITAuthorities()) > 0 {
				resp.Bundles[td.IDString()] = string(b.WITJWKS)
			}
		}
		return stream.Send(resp)
	})
}
