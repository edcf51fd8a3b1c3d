// Package svid implements spire-api-sdk's svid/v1 service: agents obtain SVIDs for
// the entries they are authorized for; administrators mint SVIDs directly.
package svid

import (
	"context"
	"crypto/x509"
	"log/slog"
	"runtime"
	"sync"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	svidv1 "github.com/spiffe/spire-api-sdk/proto/spire/api/server/svid/v1"
	"github.com/spiffe/spire-api-sdk/proto/spire/api/types"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/lanyard-dev/lanyard/attestors"
	"github.com/lanyard-dev/lanyard/internal/spireid"
	"github.com/lanyard-dev/lanyard/server/api"
	"github.com/lanyard-dev/lanyard/server/ca"
	"github.com/lanyard-dev/lanyard/server/datastore"
)

// Signer issues SVIDs.
type Signer interface {
	SignX509SVID(ctx context.Context, p ca.X509SVIDParams) ([]*x509.Certificate, error)
	SignJWTSVID(ctx context.Context, p ca.JWTSVIDParams) (string, time.Time, error)
	SignWITSVID(ctx context.Context, p ca.WITSVIDParams) (ca.WITSVID, error)
}

// Authorized answers whether an agent may obtain SVIDs for an entry. It is asked once per
// item, so it must answer without computing the agent's whole set: an agent holding
// 100,000 entries mints them in hundreds of batches (entrycache.Cache walks up from the
// entry).
type Authorized interface {
	IsAuthorized(agentID string, agentSelectors []attestors.Selector, entryID string) (*datastore.Entry, bool)
}

// Config configures the service.
type Config struct {
	TrustDomain spiffeid.TrustDomain
	Signer      Signer
	Authorized  Authorized
	X509TTL     time.Duration // default X.509-SVID TTL
	JWTTTL      time.Duration // default JWT-SVID TTL
	// WITTTL is the default WIT-SVID TTL. An entry's x509_svid_ttl applies to its WIT-SVIDs:
	// spire-api-sdk's Entry has no WIT TTL, and both are key-bound SVIDs of like lifetimes.
	WITTTL time.Duration
	Log    *slog.Logger
	// Now is the issue time written into JWT-SVIDs. Default time.Now.
	Now func() time.Time
}

// Service implements svidv1.SVIDServer.
type Service struct {
	svidv1.UnimplementedSVIDServer
	cfg Config
}

// New returns the service.
func New(cfg Config) *Service {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Service{cfg: cfg}
}

// MaxAudiences bounds the audience list of a JWT-SVID request.
const MaxAudiences = 32

// MintX509SVID implements svidv1.SVIDServer (administrators only).
func (s *Service) MintX509SVID(ctx context.Context, req *svidv1.MintX509SVIDRequest) (*svidv1.MintX509SVIDResponse, error) {
	csr, err := api.ParseCSR(req.Csr, spiffeid.ID{})
	if err != nil {
		return nil, api.Error("mint X.509-SVID", err)
	}
	id, err := api.CSRID(csr)
	if err != nil {
		return nil, api.Error("mint X.509-SVID", err)
	}
	if !id.MemberOf(s.cfg.TrustDomain) {
		return nil, api.Invalid("mint X.509-SVID: %s is not in trust domain %q", id, s.cfg.TrustDomain.Name())
	}
	for _, name := range csr.DNSNames {
		if err := api.ValidateDNSName(name); err != nil {
			return nil, api.Error("mint X.509-SVID", err)
		}
	}
	ttl, err := ttlOr(req.Ttl, s.cfg.X509TTL)
	if err != nil {
		return nil, err
	}
	chain, err := s.cfg.Signer.SignX509SVID(ctx, ca.X509SVIDParams{ID: id, PublicKey: csr.PublicKey, TTL: ttl, DNSNames: csr.DNSNames})
	if err != nil {
		return nil, api.Error("signing X.509-SVID", err)
	}
	return &svidv1.MintX509SVIDResponse{Svid: api.X509SVIDToProto(id, chain, "")}, nil
}

// MintJWTSVID implements svidv1.SVIDServer (administrators only).
func (s *Service) MintJWTSVID(ctx context.Context, req *svidv1.MintJWTSVIDRequest) (*svidv1.MintJWTSVIDResponse, error) {
	id, err := spireid.FromProto(req.Id)
	if err != nil {
		return nil, api.Invalid("mint JWT-SVID: id: %v", err)
	}
	if !id.MemberOf(s.cfg.TrustDomain) {
		return nil, api.Invalid("mint JWT-SVID: %s is not in trust domain %q", id, s.cfg.TrustDomain.Name())
	}
	ttl, err := ttlOr(req.Ttl, s.cfg.JWTTTL)
	if err != nil {
		return nil, err
	}
	svid, err := s.jwt(ctx, ca.JWTSVIDParams{ID: id, Audience: req.Audience, TTL: ttl}, "")
	if err != nil {
		return nil, err
	}
	return &svidv1.MintJWTSVIDResponse{Svid: svid}, nil
}

// BatchNewX509SVID implements svidv1.SVIDServer for agents: each item names an entry the
// calling agent must be authorized for, and a CSR carrying the workload's public key.
func (s *Service) BatchNewX509SVID(ctx context.Context, req *svidv1.BatchNewX509SVIDRequest) (*svidv1.BatchNewX509SVIDResponse, error) {
	if err := api.CheckSVIDBatchSize(len(req.Params)); err != nil {
		return nil, err
	}
	authorized, err := s.authorizer(ctx)
	if err != nil {
		return nil, err
	}
	resp := &svidv1.BatchNewX509SVIDResponse{Results: make([]*svidv1.BatchNewX509SVIDResponse_Result, len(req.Params))}
	// Checking a CSR's signature and signing cost more than everything else in the call,
	// and items are independent: spread a large batch over the cores. Results keep the
	// order of the request.
	workers := min(runtime.GOMAXPROCS(0), (len(req.Params)+minItemsPerWorker-1)/minItemsPerWorker)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < len(req.Params); i += workers {
				svid, err := s.newX509SVID(ctx, authorized, req.Params[i])
				resp.Results[i] = &svidv1.BatchNewX509SVIDResponse_Result{Status: batchStatus(err), Svid: svid}
			}
		}()
	}
	wg.Wait()
	return resp, nil
}

// minItemsPerWorker keeps small batches (the usual rotation of a few SVIDs) on one
// goroutine, where starting more would cost more than it saves.
const minItemsPerWorker = 16

func (s *Service) newX509SVID(ctx context.Context, authorized authorizer, p *svidv1.NewX509SVIDParams) (*types.X509SVID, error) {
	if p == nil || p.EntryId == "" {
		return nil, api.Invalid("entry_id is required")
	}
	e, id, err := s.entry(authorized, p.EntryId)
	if err != nil {
		return nil, err
	}
	csr, err := api.ParseCSR(p.Csr, id)
	if err != nil {
		return nil, api.Error("entry "+e.ID, err)
	}
	ttl := s.cfg.X509TTL
	if e.X509SVIDTTL > 0 {
		ttl = time.Duration(e.X509SVIDTTL) * time.Second
	}
	chain, err := s.cfg.Signer.SignX509SVID(ctx, ca.X509SVIDParams{ID: id, PublicKey: csr.PublicKey, TTL: ttl,
		DNSNames: e.DNSNames, NotAfter: entryExpiry(e)})
	if err != nil {
		return nil, api.Error("signing X.509-SVID for entry "+e.ID, err)
	}
	return api.X509SVIDToProto(id, chain, e.Hint), nil
}

// NewJWTSVID implements svidv1.SVIDServer for agents.
func (s *Service) NewJWTSVID(ctx context.Context, req *svidv1.NewJWTSVIDRequest) (*svidv1.NewJWTSVIDResponse, error) {
	if req.EntryId == "" {
		return nil, api.Invalid("entry_id is required")
	}
	authorized, err := s.authorizer(ctx)
	if err != nil {
		return nil, err
	}
	e, id, err := s.entry(authorized, req.EntryId)
	if err != nil {
		return nil, err
	}
	ttl := s.cfg.JWTTTL
	if e.JWTSVIDTTL > 0 {
		ttl = time.Duration(e.JWTSVIDTTL) * time.Second
	}
	svid, err := s.jwt(ctx, ca.JWTSVIDParams{ID: id, Audience: req.Audience, TTL: ttl, NotAfter: entryExpiry(e)}, e.Hint)
	if err != nil {
		return nil, err
	}
	return &svidv1.NewJWTSVIDResponse{Svid: svid}, nil
}

func (s *Service) jwt(ctx context.Context, p ca.JWTSVIDParams, hint string) (*types.JWTSVID, error) {
	audience := p.Audience
	if len(audience) == 0 {
		return nil, api.Invalid("audience is required (at least one)")
	}
	if len(audience) > MaxAudiences {
		return nil, api.Invalid("audience has %d values; at most %d allowed", len(audience), MaxAudiences)
	}
	for _, a := range audience {
		if a == "" || len(a) > 1024 {
			return nil, api.Invalid("audience values must be 1 to 1024 characters")
		}
	}
	token, exp, err := s.cfg.Signer.SignJWTSVID(ctx, p)
	if err != nil {
		return nil, api.Error("signing JWT-SVID", err)
	}
	return &types.JWTSVID{Token: token, Id: spireid.ToProto(p.ID), ExpiresAt: exp.Unix(), IssuedAt: s.cfg.Now().Unix(), Hint: hint}, nil
}

// entry looks up an entry the agent is authorized for and its SPIFFE ID. An entry at or
// past its expiry is refused here: the entry cache still lists it during the second it
// expires in, and the CA cannot sign an SVID that would be born expired.
func (s *Service) entry(authorized authorizer, entryID string) (*datastore.Entry, spiffeid.ID, error) {
	e, ok := authorized(entryID)
	if !ok {
		return nil, spiffeid.ID{}, status.Errorf(codes.NotFound, "entry %s does not exist or is not authorized for this agent", entryID)
	}
	if exp := entryExpiry(e); !exp.IsZero() && !s.cfg.Now().Before(exp) {
		return nil, spiffeid.ID{}, status.Errorf(codes.NotFound, "entry %s expired at %s", e.ID, exp.UTC().Format(time.RFC3339))
	}
	id, err := spiffeid.FromString(e.SPIFFEID)
	if err != nil {
		return nil, spiffeid.ID{}, status.Errorf(codes.Internal, "entry %s has an invalid SPIFFE ID: %v", e.ID, err)
	}
	return e, id, nil
}

// entryExpiry is when SVIDs of e must expire at the latest: the entry's own expiry, so an
// SVID (an admin one in particular) never outlives the entry that granted it.
func entryExpiry(e *datastore.Entry) time.Time {
	if e.ExpiresAt == 0 {
		return time.Time{}
	}
	return time.Unix(e.ExpiresAt, 0)
}

// authorizer returns the lookup of the entries the calling agent is authorized for.
func (s *Service) authorizer(ctx context.Context) (authorizer, error) {
	c := api.CallerFrom(ctx)
	if c.Kind != api.AgentCaller || c.Agent == nil {
		return nil, status.Error(codes.PermissionDenied, "only attested agents may ask for entry SVIDs")
	}
	id, sels := c.Agent.ID, c.Agent.Selectors
	return func(entryID string) (*datastore.Entry, bool) {
		return s.cfg.Authorized.IsAuthorized(id, sels, entryID)
	}, nil
}

// authorizer looks up one entry the caller is authorized for.
type authorizer func(entryID string) (*datastore.Entry, bool)

func ttlOr(seconds int32, def time.Duration) (time.Duration, error) {
	switch {
	case seconds < 0 || seconds > api.MaxTTLSeconds:
		return 0, api.Invalid("ttl %d: must be between 0 (server default) and %d seconds", seconds, api.MaxTTLSeconds)
	case seconds == 0:
		return def, nil
	}
	return time.Duration(seconds) * time.Second, nil
}

func batchStatus(err error) *types.Status {
	if err == nil {
		return &types.Status{Code: int32(codes.OK), Message: "OK"}
	}
	st, _ := status.FromError(api.Error("X.509-SVID", err))
	return &types.Status{Code: int32(st.Code()), Message: st.Message()}
}
