// Package bundle implements spire-api-sdk's bundle/v1 service: the trust domain's own
// bundle (open to everybody) and federated bundles (administrators; agents may read).
package bundle

import (
	"bytes"
	"context"
	"log/slog"
	"slices"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	bundlev1 "github.com/spiffe/spire-api-sdk/proto/spire/api/server/bundle/v1"
	"github.com/spiffe/spire-api-sdk/proto/spire/api/types"

	"github.com/lanyard-dev/lanyard/server/api"
	"github.com/lanyard-dev/lanyard/server/datastore"
)

// Config configures the service.
type Config struct {
	TrustDomain spiffeid.TrustDomain
	Store       datastore.BundleStore
	Log         *slog.Logger
	// OnChange is called after any bundle changed, so agents get it pushed (may be nil).
	OnChange func()
}

// Service implements bundlev1.BundleServer.
type Service struct {
	bundlev1.UnimplementedBundleServer
	cfg Config
}

// New returns the service.
func New(cfg Config) *Service {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.OnChange == nil {
		cfg.OnChange = func() {}
	}
	return &Service{cfg: cfg}
}

// CountBundles implements bundlev1.BundleServer.
func (s *Service) CountBundles(ctx context.Context, _ *bundlev1.CountBundlesRequest) (*bundlev1.CountBundlesResponse, error) {
	n, err := s.cfg.Store.CountBundles(ctx)
	if err != nil {
		return nil, api.Error("counting bundles", err)
	}
	return &bundlev1.CountBundlesResponse{Count: int32(n)}, nil
}

// GetBundle implements bundlev1.BundleServer.
func (s *Service) GetBundle(ctx context.Context, req *bundlev1.GetBundleRequest) (*types.Bundle, error) {
	b, err := s.cfg.Store.GetBundle(ctx, s.cfg.TrustDomain.Name())
	if err != nil {
		return nil, api.Error("bundle of "+s.cfg.TrustDomain.Name(), err)
	}
	return api.BundleToProto(b, req.OutputMask), nil
}

// AppendBundle implements bundlev1.BundleServer: adds authorities to the own bundle.
func (s *Service) AppendBundle(ctx context.Context, req *bundlev1.AppendBundleRequest) (*types.Bundle, error) {
	if len(req.X509Authorities) == 0 && len(req.JwtAuthorities) == 0 && len(req.WitAuthorities) == 0 {
		return nil, api.Invalid("nothing to append: give x509_authorities, jwt_authorities or wit_authorities")
	}
	in, err := api.BundleFromProto(&types.Bundle{
		TrustDomain: s.cfg.TrustDomain.Name(), X509Authorities: req.X509Authorities, JwtAuthorities: req.JwtAuthorities,
		WitAuthorities: req.WitAuthorities,
	})
	if err != nil {
		return nil, api.Error("append bundle", err)
	}
	if err := s.checkKeyIDs(ctx, slices.Concat(in.JWTAuthorities, in.WITAuthorities)); err != nil {
		return nil, err
	}
	b, err := s.cfg.Store.AppendBundle(ctx, in)
	if err != nil {
		return nil, api.Error("append bundle", err)
	}
	s.cfg.OnChange()
	return api.BundleToProto(b, req.OutputMask), nil
}

// checkKeyIDs refuses JWT keys whose key ID the bundle already holds for another public
// key: the store keeps the key it has, so the append would succeed without the new key.
func (s *Service) checkKeyIDs(ctx context.Context, keys []datastore.JWTKey) error {
	if len(keys) == 0 {
		return nil
	}
	cur, err := s.cfg.Store.GetBundle(ctx, s.cfg.TrustDomain.Name())
	if err != nil {
		return api.Error("append bundle", err)
	}
	for i, k := range keys {
		for _, have := range slices.Concat(cur.JWTAuthorities, cur.WITAuthorities) {
			if have.KeyID == k.KeyID && !bytes.Equal(have.PublicKey, k.PublicKey) {
				return api.Invalid("authority %d (key_id %q): the key ID is already in the bundle for another public key; give the new key its own key_id", i, k.KeyID)
			}
		}
	}
	return nil
}

// ListFederatedBundles implements bundlev1.BundleServer.
func (s *Service) ListFederatedBundles(ctx context.Context, req *bundlev1.ListFederatedBundlesRequest) (*bundlev1.ListFederatedBundlesResponse, error) {
	page, err := api.Page(req.PageSize, req.PageToken)
	if err != nil {
		return nil, err
	}
	bundles, next, err := s.cfg.Store.ListBundles(ctx, page)
	if err != nil {
		return nil, api.Error("listing bundles", err)
	}
	resp := &bundlev1.ListFederatedBundlesResponse{NextPageToken: next}
	for _, b := range bundles {
		if b.TrustDomain != s.cfg.TrustDomain.Name() {
			resp.Bundles = append(resp.Bundles, api.BundleToProto(b, req.OutputMask))
		}
	}
	return resp, nil
}

// GetFederatedBundle implements bundlev1.BundleServer.
func (s *Service) GetFederatedBundle(ctx context.Context, req *bundlev1.GetFederatedBundleRequest) (*types.Bundle, error) {
	name, err := s.federatedName(req.TrustDomain)
	if err != nil {
		return nil, err
	}
	b, err := s.cfg.Store.GetBundle(ctx, name)
	if err != nil {
		return nil, api.Error("federated bundle "+name, err)
	}
	return api.BundleToProto(b, req.OutputMask), nil
}

// BatchCreateFederatedBundle implements bundlev1.BundleServer.
func (s *Service) BatchCreateFederatedBundle(ctx context.Context, req *bundlev1.BatchCreateFederatedBundleRequest) (*bundlev1.BatchCreateFederatedBundleResponse, error) {
	resp := &bundlev1.BatchCreateFederatedBundleResponse{}
	for _, in := range req.Bundle {
		b, err := s.write(ctx, in, func(b *datastore.Bundle) (*datastore.Bundle, error) { return s.cfg.Store.CreateBundle(ctx, b) })
		resp.Results = append(resp.Results, &bundlev1.BatchCreateFederatedBundleResponse_Result{Status: api.BatchStatus(s.cfg.Log, "creating bundle "+in.GetTrustDomain(), err), Bundle: s.out(b, req.OutputMask)})
	}
	return resp, nil
}

// BatchUpdateFederatedBundle implements bundlev1.BundleServer.
func (s *Service) BatchUpdateFederatedBundle(ctx context.Context, req *bundlev1.BatchUpdateFederatedBundleRequest) (*bundlev1.BatchUpdateFederatedBundleResponse, error) {
	mask := datastore.BundleMask{X509Authorities: true, JWTAuthorities: true, WITAuthorities: true, RefreshHint: true, SequenceNumber: true}
	if m := req.InputMask; m != nil {
		mask = datastore.BundleMask{X509Authorities: m.X509Authorities, JWTAuthorities: m.JwtAuthorities, WITAuthorities: m.WitAuthorities, RefreshHint: m.RefreshHint, SequenceNumber: m.SequenceNumber}
	}
	resp := &bundlev1.BatchUpdateFederatedBundleResponse{}
	for _, in := range req.Bundle {
		b, err := s.write(ctx, in, func(b *datastore.Bundle) (*datastore.Bundle, error) { return s.cfg.Store.UpdateBundle(ctx, b, mask) })
		resp.Results = append(resp.Results, &bundlev1.BatchUpdateFederatedBundleResponse_Result{Status: api.BatchStatus(s.cfg.Log, "updating bundle "+in.GetTrustDomain(), err), Bundle: s.out(b, req.OutputMask)})
	}
	return resp, nil
}

// BatchSetFederatedBundle implements bundlev1.BundleServer.
func (s *Service) BatchSetFederatedBundle(ctx context.Context, req *bundlev1.BatchSetFederatedBundleRequest) (*bundlev1.BatchSetFederatedBundleResponse, error) {
	resp := &bundlev1.BatchSetFederatedBundleResponse{}
	for _, in := range req.Bundle {
		b, err := s.write(ctx, in, func(b *datastore.Bundle) (*datastore.Bundle, error) { return s.cfg.Store.SetBundle(ctx, b) })
		resp.Results = append(resp.Results, &bundlev1.BatchSetFederatedBundleResponse_Result{Status: api.BatchStatus(s.cfg.Log, "setting bundle "+in.GetTrustDomain(), err), Bundle: s.out(b, req.OutputMask)})
	}
	return resp, nil
}

// BatchDeleteFederatedBundle implements bundlev1.BundleServer.
func (s *Service) BatchDeleteFederatedBundle(ctx context.Context, req *bundlev1.BatchDeleteFederatedBundleRequest) (*bundlev1.BatchDeleteFederatedBundleResponse, error) {
	var mode datastore.DeleteMode
	switch req.Mode {
	case bundlev1.BatchDeleteFederatedBundleRequest_RESTRICT:
		mode = datastore.DeleteRestrict
	case bundlev1.BatchDeleteFederatedBundleRequest_DELETE:
		mode = datastore.DeleteCascade
	case bundlev1.BatchDeleteFederatedBundleRequest_DISSOCIATE:
		mode = datastore.DeleteDissociate
	default:
		return nil, api.Invalid("mode %d: use RESTRICT, DELETE or DISSOCIATE", req.Mode)
	}
	resp := &bundlev1.BatchDeleteFederatedBundleResponse{}
	changed := false
	for _, td := range req.TrustDomains {
		name, err := s.federatedName(td)
		if err == nil {
			err = s.cfg.Store.DeleteBundle(ctx, name, mode)
		}
		changed = changed || err == nil
		resp.Results = append(resp.Results, &bundlev1.BatchDeleteFederatedBundleResponse_Result{TrustDomain: td, Status: api.BatchStatus(s.cfg.Log, "deleting bundle "+td, err)})
	}
	if changed {
		s.cfg.OnChange()
	}
	return resp, nil
}

func (s *Service) write(ctx context.Context, in *types.Bundle, op func(*datastore.Bundle) (*datastore.Bundle, error)) (*datastore.Bundle, error) {
	b, err := api.BundleFromProto(in)
	if err != nil {
		return nil, err
	}
	if b.TrustDomain == s.cfg.TrustDomain.Name() {
		return nil, api.Invalid("%q is this server's own trust domain; its bundle is managed by the CA", b.TrustDomain)
	}
	if len(b.X509Authorities) == 0 && len(b.JWTAuthorities) == 0 && len(b.WITAuthorities) == 0 {
		return nil, api.Invalid("bundle %s has no authorities", b.TrustDomain)
	}
	out, err := op(b)
	if err == nil {
		s.cfg.OnChange()
	}
	return out, err
}

func (s *Service) out(b *datastore.Bundle, mask *types.BundleMask) *types.Bundle {
	if b == nil {
		return nil
	}
	return api.BundleToProto(b, mask)
}

func (s *Service) federatedName(td string) (string, error) {
	name, err := api.TrustDomainName(td)
	if err != nil {
		return "", api.Invalid("trust_domain: %v", err)
	}
	if name == s.cfg.TrustDomain.Name() {
		return "", api.Invalid("%q is this server's own trust domain, not a federated one", name)
	}
	return name, nil
}
