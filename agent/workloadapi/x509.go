package workloadapi

import (
	"context"
	"errors"

	"github.com/spiffe/go-spiffe/v2/proto/spiffe/workload"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/lanyard-dev/lanyard/agent/cache"
	"github.com/lanyard-dev/lanyard/attestors"
)

var (
	errNoIdentity = status.Error(codes.PermissionDenied, "no identity issued")
	errNoBundle   = status.Error(codes.Unavailable, "agent has no trust bundle yet; retry shortly")
	errShutdown   = status.Error(codes.Unavailable, "agent is shutting down")
)

// FetchX509SVID streams the caller's X.509-SVIDs. With no identity the stream ends with
// PermissionDenied, at the start or later when the last one is removed, which tells
// clients to stop using what they had (SPIFFE Workload API §5.2.1).
func (s *Server) FetchX509SVID(_ *workload.X509SVIDRequest, stream grpc.ServerStreamingServer[workload.X509SVIDResponse]) error {
	var last *cache.WorkloadUpdate
	return s.follow(stream.Context(), func(u *cache.WorkloadUpdate) error {
		if len(u.Identities) == 0 {
			return errNoIdentity
		}
		if u.Bundle == nil {
			return errNoBundle
		}
		if last != nil && last.SameX509(u) {
			return nil // only WIT-SVIDs changed
		}
		last = u
		return stream.Send(s.x509SVIDResponse(u))
	})
}

// FetchX509Bundles streams the trust bundles the caller may use: the agent's own and
// those its entries federate with.
func (s *Server) FetchX509Bundles(_ *workload.X509BundlesRequest, stream grpc.ServerStreamingServer[workload.X509BundlesResponse]) error {
	var last *cache.WorkloadUpdate
	return s.follow(stream.Context(), func(u *cache.WorkloadUpdate) error {
		if err := s.bundlesAllowed(u); err != nil {
			return err
		}
		if last != nil && sameBundles(last, u) {
			return nil // only SVIDs changed
		}
		last = u
		resp := &workload.X509BundlesResponse{Bundles: map[string][]byte{u.Bundle.TrustDomain.IDString(): u.Bundle.X509DER}}
		for td, b := range u.FederatedBundles {
			resp.Bundles[td.IDString()] = b.X509DER
		}
		return stream.Send(resp)
	})
}

// x509SVIDResponse is the response for u, with as many of its SVIDs as fit
// MaxResponseBytes.
func (s *Server) x509SVIDResponse(u *cache.WorkloadUpdate) *workload.X509SVIDResponse {
	resp := &workload.X509SVIDResponse{}
	if len(u.FederatedBundles) > 0 {
		resp.FederatedBundles = make(map[string][]byte, len(u.FederatedBundles))
		for td, b := range u.FederatedBundles {
			resp.FederatedBundles[td.IDString()] = b.X509DER
		}
	}
	room := s.newBudget(resp)
	resp.Svids = make([]*workload.X509SVID, 0, len(u.Identities))
	for _, id := range u.Identities {
		svid := &workload.X509SVID{
			SpiffeId:    id.SVID.ID.String(),
			X509Svid:    id.SVID.ChainDER,
			X509SvidKey: id.SVID.KeyDER,
			Bundle:      u.Bundle.X509DER,
			Hint:        id.Entry.Hint,
		}
		if !room.fits(svid) {
			s.truncated("FetchX509SVID", len(u.Identities), len(resp.Svids))
			break
		}
		resp.Svids = append(resp.Svids, svid)
	}
	return resp
}

// bundlesAllowed decides whether a caller may have bundles at all.
func (s *Server) bundlesAllowed(u *cache.WorkloadUpdate) error {
	if len(u.Identities) == 0 && !s.cfg.AllowUnauthenticatedVerifiers {
		return errNoIdentity
	}
	if u.Bundle == nil {
		return errNoBundle
	}
	return nil
}

func sameBundles(a, b *cache.WorkloadUpdate) bool {
	if a.Bundle != b.Bundle || len(a.FederatedBundles) != len(b.FederatedBundles) {
		return false
	}
	for td, fb := range a.FederatedBundles {
		if b.FederatedBundles[td] != fb {
			return false
		}
	}
	return true
}

// follow attests the caller, then hands send every change of what it is entitled to
// until the client leaves, send fails, or the server stops.
func (s *Server) follow(ctx context.Context, send func(*cache.WorkloadUpdate) error) error {
	return s.followWith(ctx, s.cfg.Cache.Subscribe, send)
}

// followWith is follow with the cache's subscription of choice (SubscribeWIT for a caller
// asking for WIT-SVIDs).
func (s *Server) followWith(ctx context.Context, subscribe func([]attestors.Selector) *cache.Subscription, send func(*cache.WorkloadUpdate) error) error {
	c, err := s.attest(ctx)
	if err != nil {
		return err
	}
	sub := subscribe(c.selectors)
	defer sub.Close()
	ctx, cancel := s.streamContext(ctx)
	defer cancel()
	for {
		u, err := sub.Next(ctx)
		if err != nil {
			if s.base.Err() != nil {
				return errShutdown
			}
			if errors.Is(err, cache.ErrClosed) {
				return status.Error(codes.Internal, err.Error())
			}
			return status.FromContextError(err).Err()
		}
		if err := c.stillCaller(); err != nil {
			return err
		}
		if err := send(u); err != nil {
			return err
		}
	}
}
