package svid

import (
	"context"
	"crypto"
	"crypto/x509"
	"time"

	svidv1 "github.com/spiffe/spire-api-sdk/proto/spire/api/server/svid/v1"
	"github.com/spiffe/spire-api-sdk/proto/spire/api/types"

	"github.com/lanyard-dev/lanyard/internal/spireid"
	"github.com/lanyard-dev/lanyard/server/api"
	"github.com/lanyard-dev/lanyard/server/ca"
)

// MintWITSVID implements svidv1.SVIDServer (administrators only): a WIT-SVID for any ID of
// the trust domain, bound to the caller's public key.
func (s *Service) MintWITSVID(ctx context.Context, req *svidv1.MintWITSVIDRequest) (*svidv1.MintWITSVIDResponse, error) {
	id, err := spireid.FromProto(req.Id)
	if err != nil {
		return nil, api.Invalid("mint WIT-SVID: id: %v", err)
	}
	if !id.MemberOf(s.cfg.TrustDomain) {
		return nil, api.Invalid("mint WIT-SVID: %s is not in trust domain %q", id, s.cfg.TrustDomain.Name())
	}
	key, err := witKey(req.PublicKey, req.SigningAlgorithm)
	if err != nil {
		return nil, api.Error("mint WIT-SVID", err)
	}
	ttl, err := ttlOr(req.Ttl, s.cfg.WITTTL)
	if err != nil {
		return nil, err
	}
	w, err := s.cfg.Signer.SignWITSVID(ctx, ca.WITSVIDParams{ID: id, PublicKey: key, Algorithm: req.SigningAlgorithm, TTL: ttl})
	if err != nil {
		return nil, api.Error("signing WIT-SVID", err)
	}
	return &svidv1.MintWITSVIDResponse{Svid: witToProto(w, req.Id, "")}, nil
}

// BatchNewWITSVID implements svidv1.SVIDServer for agents: each item names an entry the
// calling agent must be authorized for, and the workload's public key with its algorithm.
// Items fail on their own; the order of results is the order of the request.
func (s *Service) BatchNewWITSVID(ctx context.Context, req *svidv1.BatchNewWITSVIDRequest) (*svidv1.BatchNewWITSVIDResponse, error) {
	if err := api.CheckSVIDBatchSize(len(req.Params)); err != nil {
		return nil, err
	}
	authorized, err := s.authorizer(ctx)
	if err != nil {
		return nil, err
	}
	resp := &svidv1.BatchNewWITSVIDResponse{Results: make([]*svidv1.BatchNewWITSVIDResponse_Result, len(req.Params))}
	for i, p := range req.Params {
		svid, err := s.newWITSVID(ctx, authorized, p)
		resp.Results[i] = &svidv1.BatchNewWITSVIDResponse_Result{Status: batchStatus(err), Svid: svid}
	}
	return resp, nil
}

func (s *Service) newWITSVID(ctx context.Context, authorized authorizer, p *svidv1.NewWITSVIDParams) (*types.WITSVID, error) {
	if p == nil || p.EntryId == "" {
		return nil, api.Invalid("entry_id is required")
	}
	e, id, err := s.entry(authorized, p.EntryId)
	if err != nil {
		return nil, err
	}
	key, err := witKey(p.PublicKey, p.SigningAlgorithm)
	if err != nil {
		return nil, api.Error("entry "+e.ID, err)
	}
	ttl := s.cfg.WITTTL
	if e.X509SVIDTTL > 0 {
		ttl = time.Duration(e.X509SVIDTTL) * time.Second
	}
	w, err := s.cfg.Signer.SignWITSVID(ctx, ca.WITSVIDParams{ID: id, PublicKey: key, Algorithm: p.SigningAlgorithm, TTL: ttl, NotAfter: entryExpiry(e)})
	if err != nil {
		return nil, api.Error("signing WIT-SVID for entry "+e.ID, err)
	}
	return witToProto(w, spireid.ToProto(id), e.Hint), nil
}

// witKey parses a PKIX public key and checks that the WIT-SVID spec allows alg for it.
func witKey(der []byte, alg string) (crypto.PublicKey, error) {
	if len(der) == 0 {
		return nil, api.Invalid("public_key is required (ASN.1 DER, PKIX)")
	}
	key, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		return nil, api.Invalid("public_key is not an ASN.1 DER PKIX public key: %v", err)
	}
	if err := ca.CheckWITKey(key, alg); err != nil {
		return nil, api.Invalid("signing_algorithm: %v", err)
	}
	return key, nil
}

func witToProto(w ca.WITSVID, id *types.SPIFFEID, hint string) *types.WITSVID {
	return &types.WITSVID{Token: w.Token, Id: id, ExpiresAt: w.Expiry.Unix(), IssuedAt: w.IssuedAt.Unix(), Hint: hint}
}
