package broker

import (
	"context"
	"slices"
	"time"

	brokerv1 "github.com/spiffe/go-spiffe/v2/exp/proto/spiffe/broker"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/lanyard-dev/lanyard/agent/cache"
	"github.com/lanyard-dev/lanyard/agent/workloadapi"
	"github.com/lanyard-dev/lanyard/internal/pause"
)

// service implements the SPIFFE Broker API from the agent's cache. Admin and downstream
// entries are never brokered, nor expired SVIDs.
type service struct {
	brokerv1.UnimplementedAPIServer
	cfg     Config
	brokers map[spiffeid.ID]bool
}

var errNoBundle = status.Error(codes.Unavailable, "agent has no trust bundle yet; retry shortly")

// entitled returns the identities of u a broker may have for the workload.
func (s *service) entitled(u *cache.WorkloadUpdate) []cache.Identity {
	now := s.cfg.Clock.Now()
	return slices.DeleteFunc(slices.Clone(u.Identities), func(w cache.Identity) bool {
		return w.Entry.Admin || w.Entry.Downstream || !now.Before(w.SVID.ExpiresAt)
	})
}

func (s *service) notEntitled(w *workload) error {
	return refError(codes.PermissionDenied, reasonNotEntitled, w.meta(), "the workload is entitled to no SVID from this agent")
}

// follow resolves ref and hands send the workload's update and identities now and after
// every change, until the workload exits (NotFound), loses its last identity
// (PermissionDenied), or the broker leaves.
func (s *service) follow(ctx context.Context, ref *brokerv1.WorkloadReference, send func(*cache.WorkloadUpdate, []cache.Identity) error) error {
	w, err := s.resolve(ctx, ref)
	if err != nil {
		return err
	}
	defer w.release()
	sub := s.cfg.Cache.Subscribe(w.selectors)
	defer sub.Close()
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	go func() {
		select {
		case <-w.exited():
			cancel(w.gone())
		case <-ctx.Done():
		}
	}()
	// The broker's SVID was valid at the handshake; the stream lasts no longer than it.
	if exp, ok := brokerExpiry(ctx); ok {
		defer pause.AfterFunc(s.cfg.Clock, exp.Sub(s.cfg.Clock.Now()), func() {
			cancel(status.Error(codes.Unauthenticated, "the broker's X.509-SVID expired: reconnect with a fresh one"))
		})()
	}
	stopExpiry := func() {}
	defer func() { stopExpiry() }()
	for {
		u, err := sub.Next(ctx)
		if err == nil {
			err = w.check(ctx)
		}
		if err != nil {
			if cause := context.Cause(ctx); cause != nil && status.Code(cause) != codes.Unknown {
				return cause
			}
			if status.Code(err) != codes.Unknown {
				return err
			}
			return status.FromContextError(err).Err()
		}
		ids := s.entitled(u)
		if len(ids) == 0 {
			return s.notEntitled(w)
		}
		if u.Bundle == nil {
			return errNoBundle
		}
		if err := send(u, ids); err != nil {
			return err
		}
		// Come back when the first SVID sent expires: the cache announces no expiry.
		first := ids[0].SVID.ExpiresAt
		for _, id := range ids[1:] {
			if id.SVID.ExpiresAt.Before(first) {
				first = id.SVID.ExpiresAt
			}
		}
		stopExpiry()
		stopExpiry = pause.AfterFunc(s.cfg.Clock, first.Sub(s.cfg.Clock.Now()), sub.Refresh)
	}
}

// brokerExpiry returns when the caller's X.509-SVID expires.
func brokerExpiry(ctx context.Context) (time.Time, bool) {
	p, ok := peer.FromContext(ctx)
	if !ok {
		return time.Time{}, false
	}
	info, ok := p.AuthInfo.(credentials.TLSInfo)
	if !ok || len(info.State.PeerCertificates) == 0 {
		return time.Time{}, false
	}
	return info.State.PeerCertificates[0].NotAfter, true
}

func (s *service) SubscribeToX509SVID(req *brokerv1.SubscribeToX509SVIDRequest, stream grpc.ServerStreamingServer[brokerv1.SubscribeToX509SVIDResponse]) error {
	return s.follow(stream.Context(), req.Reference, func(u *cache.WorkloadUpdate, ids []cache.Identity) error {
		resp := &brokerv1.SubscribeToX509SVIDResponse{Svids: make([]*brokerv1.X509SVID, len(ids))}
		for i, w := range ids {
			resp.Svids[i] = &brokerv1.X509SVID{SpiffeId: w.SVID.ID.String(), X509Svid: w.SVID.ChainDER, X509SvidKey: w.SVID.KeyDER,
				Bundle: u.Bundle.X509DER, Hint: w.Entry.Hint}
		}
		if len(u.FederatedBundles) > 0 {
			resp.FederatedBundles = map[string][]byte{}
			for td, b := range u.FederatedBundles {
				resp.FederatedBundles[td.IDString()] = b.X509DER
			}
		}
		return stream.Send(resp)
	})
}

func (s *service) SubscribeToX509Bundles(req *brokerv1.SubscribeToX509BundlesRequest, stream grpc.ServerStreamingServer[brokerv1.SubscribeToX509BundlesResponse]) error {
	return s.followBundles(stream.Context(), req.Reference, func(bs map[string]*cache.Bundle) error {
		resp := &brokerv1.SubscribeToX509BundlesResponse{Bundles: map[string][]byte{}}
		for td, b := range bs {
			resp.Bundles[td] = b.X509DER
		}
		return stream.Send(resp)
	})
}

func (s *service) SubscribeToJWTBundles(req *brokerv1.SubscribeToJWTBundlesRequest, stream grpc.ServerStreamingServer[brokerv1.SubscribeToJWTBundlesResponse]) error {
	return s.followBundles(stream.Context(), req.Reference, func(bs map[string]*cache.Bundle) error {
		resp := &brokerv1.SubscribeToJWTBundlesResponse{Bundles: map[string][]byte{}}
		for td, b := range bs {
			resp.Bundles[td] = b.JWKS
		}
		return stream.Send(resp)
	})
}

// followBundles sends the bundles the workload may use (the agent's own and those its
// entries federate with), keyed by trust domain ID, whenever they change.
func (s *service) followBundles(ctx context.Context, ref *brokerv1.WorkloadReference, send func(map[string]*cache.Bundle) error) error {
	var last map[string]*cache.Bundle
	return s.follow(ctx, ref, func(u *cache.WorkloadUpdate, _ []cache.Identity) error {
		bs := map[string]*cache.Bundle{u.Bundle.TrustDomain.IDString(): u.Bundle}
		for td, b := range u.FederatedBundles {
			bs[td.IDString()] = b
		}
		if last != nil && sameBundles(last, bs) {
			return nil // only SVIDs changed
		}
		last = bs
		return send(bs)
	})
}

func sameBundles(a, b map[string]*cache.Bundle) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func (s *service) FetchJWTSVID(ctx context.Context, req *brokerv1.FetchJWTSVIDRequest) (*brokerv1.FetchJWTSVIDResponse, error) {
	want, err := workloadapi.CheckJWTRequest(req.Audience, req.SpiffeId)
	if err != nil {
		return nil, err
	}
	if s.cfg.JWT == nil {
		return nil, status.Error(codes.Unavailable, "this agent does not issue JWT-SVIDs")
	}
	w, err := s.resolve(ctx, req.Reference)
	if err != nil {
		return nil, err
	}
	defer w.release()
	resp := &brokerv1.FetchJWTSVIDResponse{}
	for _, id := range s.entitled(s.cfg.Cache.Match(w.selectors)) {
		if !want.IsZero() && id.SVID.ID != want {
			continue
		}
		token, err := s.cfg.JWT.Fetch(ctx, id.Entry, req.Audience)
		if err != nil {
			if ctx.Err() != nil {
				return nil, status.FromContextError(ctx.Err()).Err()
			}
			return nil, status.Errorf(codes.Unavailable, "could not mint a JWT-SVID for %s: %v", id.SVID.ID, err)
		}
		resp.Svids = append(resp.Svids, &brokerv1.JWTSVID{SpiffeId: id.SVID.ID.String(), Svid: token, Hint: id.Entry.Hint})
	}
	if err := w.check(ctx); err != nil {
		return nil, err
	}
	if len(resp.Svids) == 0 {
		return nil, s.notEntitled(w)
	}
	return resp, nil
}
