package admin

import (
	"context"
	"encoding/asn1"
	"errors"
	"slices"
	"time"

	delegatedv1 "github.com/spiffe/spire-api-sdk/proto/spire/api/agent/delegatedidentity/v1"
	"github.com/spiffe/spire-api-sdk/proto/spire/api/types"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/lanyard-dev/lanyard/agent/cache"
	"github.com/lanyard-dev/lanyard/internal/pause"
)

// delegatedService implements spire-api-sdk's Delegated Identity API: an authorized
// delegate gets the SVIDs of the workloads it names (by selectors, or by a PID the agent
// attests) and every bundle the agent holds.
//
// One update is one message, as SPIRE sends it: the proto has no way to say that an
// update continues in the next message, and clients (Cilium's) replace their whole set
// with each message. A large set is therefore one large message: the server sends any
// size (see Serve), and a client subscribing to thousands of identities raises its
// receive limit above gRPC's default 4 MiB, as Cilium does, or asks for the update in
// pieces (PiecesHeader).
type delegatedService struct {
	delegatedv1.UnimplementedDelegatedIdentityServer
	d   *delegation
	jwt JWTFetcher
}

// JWTFetcher mints or reuses a JWT-SVID for an entry and audience (the agent's JWT cache).
type JWTFetcher interface {
	Fetch(ctx context.Context, e *cache.Entry, audience []string) (string, error)
}

// stream starts a delegate's stream: it authorizes the caller and returns a context
// that ends, with the reason as its cause, when the caller stops being a delegate.
func (s *delegatedService) stream(ctx context.Context) (context.Context, func(), error) {
	dg, err := s.d.authorize(ctx)
	if err != nil {
		return nil, nil, err
	}
	ctx, cancel := context.WithCancelCause(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.d.follow(ctx, dg, cancel)
	}()
	return ctx, func() { cancel(nil); <-done }, nil
}

// ended turns the end of a stream's context into its status: the delegate's lost
// authorization, the workload's exit, or the client leaving.
func ended(ctx context.Context) error {
	if cause := context.Cause(ctx); cause != nil && !errors.Is(cause, context.Canceled) && !errors.Is(cause, context.DeadlineExceeded) {
		return cause
	}
	return status.FromContextError(ctx.Err()).Err()
}

func (s *delegatedService) SubscribeToX509SVIDs(req *delegatedv1.SubscribeToX509SVIDsRequest, stream grpc.ServerStreamingServer[delegatedv1.SubscribeToX509SVIDsResponse]) error {
	ctx, stop, err := s.stream(stream.Context())
	if err != nil {
		return err
	}
	defer stop()
	sels, err := selectorsFromProto(req.Selectors)
	if err != nil {
		return err
	}
	piece, err := pieceSize(ctx)
	if err != nil {
		return err
	}
	sels, proc, err := s.d.workload(ctx, sels, req.Pid)
	if err != nil {
		return err
	}
	if proc != nil {
		defer proc.Close()
		var exited context.CancelCauseFunc
		ctx, exited = context.WithCancelCause(ctx)
		defer exited(nil)
		go func() {
			select {
			case <-proc.Exited():
				exited(status.Errorf(codes.NotFound, "workload process %d exited", proc.PID))
			case <-ctx.Done():
			}
		}()
	}
	sub := s.d.cache.Subscribe(sels)
	defer sub.Close()
	stopExpiry := func() {}
	defer func() { stopExpiry() }()
	for {
		u, err := sub.Next(ctx)
		if err != nil {
			return ended(ctx)
		}
		if proc != nil && proc.Check() != nil {
			return status.Errorf(codes.NotFound, "workload process %d exited", proc.PID)
		}
		now := s.d.clk.Now()
		ids := delegable(u, now)
		resp, err := x509Response(ids, u)
		if err != nil {
			return err
		}
		msgs := []*delegatedv1.SubscribeToX509SVIDsResponse{resp}
		if piece > 0 {
			msgs = pieces(resp, piece)
		}
		for _, m := range msgs {
			if err := stream.Send(m); err != nil {
				return err
			}
		}
		// The cache announces no expiry: come back when the first SVID sent expires, so
		// that the delegate is told to stop using it (if it was not renewed by then).
		stopExpiry()
		stopExpiry = func() {}
		if first, ok := firstExpiry(ids); ok {
			stopExpiry = pause.AfterFunc(s.d.clk, first.Sub(now), sub.Refresh)
		}
	}
}

func firstExpiry(ids []cache.Identity) (time.Time, bool) {
	var first time.Time
	for _, w := range ids {
		if first.IsZero() || w.SVID.ExpiresAt.Before(first) {
			first = w.SVID.ExpiresAt
		}
	}
	return first, !first.IsZero()
}

func x509Response(ids []cache.Identity, u *cache.WorkloadUpdate) (*delegatedv1.SubscribeToX509SVIDsResponse, error) {
	resp := &delegatedv1.SubscribeToX509SVIDsResponse{X509Svids: make([]*delegatedv1.X509SVIDWithKey, 0, len(ids))}
	for _, w := range ids {
		chain, err := splitDER(w.SVID.ChainDER)
		if err != nil {
			return nil, status.Errorf(codes.Internal, "X.509-SVID of entry %s: %v", w.Entry.ID, err)
		}
		resp.X509Svids = append(resp.X509Svids, &delegatedv1.X509SVIDWithKey{
			X509Svid: &types.X509SVID{
				Id:        &types.SPIFFEID{TrustDomain: w.SVID.ID.TrustDomain().Name(), Path: w.SVID.ID.Path()},
				CertChain: chain,
				ExpiresAt: w.SVID.ExpiresAt.Unix(),
				Hint:      w.Entry.Hint,
			},
			X509SvidKey: w.SVID.KeyDER,
		})
	}
	for td := range u.FederatedBundles {
		resp.FederatesWith = append(resp.FederatesWith, td.IDString())
	}
	slices.Sort(resp.FederatesWith)
	return resp, nil
}

// splitDER cuts concatenated DER certificates apart without parsing them.
func splitDER(der []byte) ([][]byte, error) {
	var out [][]byte
	for len(der) > 0 {
		var raw asn1.RawValue
		rest, err := asn1.Unmarshal(der, &raw)
		if err != nil {
			return nil, err
		}
		out = append(out, raw.FullBytes)
		der = rest
	}
	return out, nil
}

func (s *delegatedService) SubscribeToX509Bundles(_ *delegatedv1.SubscribeToX509BundlesRequest, stream grpc.ServerStreamingServer[delegatedv1.SubscribeToX509BundlesResponse]) error {
	return s.followBundles(stream.Context(), func(bs map[string]*cache.Bundle) error {
		resp := &delegatedv1.SubscribeToX509BundlesResponse{CaCertificates: make(map[string][]byte, len(bs))}
		for td, b := range bs {
			resp.CaCertificates[td] = b.X509DER
		}
		return stream.Send(resp)
	})
}

func (s *delegatedService) SubscribeToJWTBundles(_ *delegatedv1.SubscribeToJWTBundlesRequest, stream grpc.ServerStreamingServer[delegatedv1.SubscribeToJWTBundlesResponse]) error {
	return s.followBundles(stream.Context(), func(bs map[string]*cache.Bundle) error {
		resp := &delegatedv1.SubscribeToJWTBundlesResponse{Bundles: make(map[string][]byte, len(bs))}
		for td, b := range bs {
			resp.Bundles[td] = b.JWKS
		}
		return stream.Send(resp)
	})
}

// followBundles hands send every bundle the agent holds, keyed by trust domain ID
// (spiffe://example.org, as SPIRE keys them), at once and after every change, while the
// caller is a delegate.
func (s *delegatedService) followBundles(ctx context.Context, send func(map[string]*cache.Bundle) error) error {
	ctx, stop, err := s.stream(ctx)
	if err != nil {
		return err
	}
	defer stop()
	w := s.d.cache.WatchBundles()
	defer w.Close()
	for {
		own, fed, err := w.Next(ctx)
		if err != nil {
			return ended(ctx)
		}
		bs := make(map[string]*cache.Bundle, len(fed)+1)
		if own != nil {
			bs[own.TrustDomain.IDString()] = own
		}
		for td, b := range fed {
			bs[td.IDString()] = b
		}
		if err := send(bs); err != nil {
			return err
		}
	}
}
