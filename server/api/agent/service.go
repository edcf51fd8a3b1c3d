// Package agent implements spire-api-sdk's agent/v1 service: node attestation and
// agent SVID renewal for agents, and agent management and join tokens for administrators.
package agent

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	agentv1 "github.com/spiffe/spire-api-sdk/proto/spire/api/server/agent/v1"
	"github.com/spiffe/spire-api-sdk/proto/spire/api/types"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/lanyard-dev/lanyard/attestors"
	"github.com/lanyard-dev/lanyard/attestors/jointoken"
	"github.com/lanyard-dev/lanyard/internal/spireid"
	"github.com/lanyard-dev/lanyard/server/api"
	"github.com/lanyard-dev/lanyard/server/ca"
	"github.com/lanyard-dev/lanyard/server/datastore"
)

// Store is what the service needs of the datastore.
type Store interface {
	datastore.AgentStore
	datastore.JoinTokenStore
	CreateEntries(ctx context.Context, entries []*datastore.Entry) ([]datastore.EntryResult, error)
}

// Signer issues agent X.509-SVIDs.
type Signer interface {
	SignX509SVID(ctx context.Context, p ca.X509SVIDParams) ([]*x509.Certificate, error)
}

// Config configures the service.
type Config struct {
	TrustDomain spiffeid.TrustDomain
	Store       Store
	Signer      Signer
	// Verifiers are the server halves of node attestors, by attestation type.
	Verifiers map[string]attestors.NodeVerifier
	AgentTTL  time.Duration
	Now       func() time.Time
	Log       *slog.Logger
	// OnChange is called with an agent's ID after it is attested, renewed, banned or deleted,
	// or found changed by another server (may be nil).
	OnChange func(id spiffeid.ID)
}

// Service implements agentv1.AgentServer.
type Service struct {
	agentv1.UnimplementedAgentServer
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
	if cfg.OnChange == nil {
		cfg.OnChange = func(spiffeid.ID) {}
	}
	return &Service{cfg: cfg}
}

// CountAgents implements agentv1.AgentServer.
func (s *Service) CountAgents(ctx context.Context, req *agentv1.CountAgentsRequest) (*agentv1.CountAgentsResponse, error) {
	f := req.GetFilter()
	filter, err := agentFilter(f.GetByAttestationType(), f.GetBySelectorMatch(), f.GetByBanned(), f.GetByCanReattest(), f.GetByExpiresBefore())
	if err != nil {
		return nil, err
	}
	n, err := s.cfg.Store.CountAgents(ctx, filter)
	if err != nil {
		return nil, api.Error("counting agents", err)
	}
	return &agentv1.CountAgentsResponse{Count: int32(n)}, nil
}

// ListAgents implements agentv1.AgentServer.
func (s *Service) ListAgents(ctx context.Context, req *agentv1.ListAgentsRequest) (*agentv1.ListAgentsResponse, error) {
	f := req.GetFilter()
	filter, err := agentFilter(f.GetByAttestationType(), f.GetBySelectorMatch(), f.GetByBanned(), f.GetByCanReattest(), f.GetByExpiresBefore())
	if err != nil {
		return nil, err
	}
	page, err := api.Page(req.PageSize, req.PageToken)
	if err != nil {
		return nil, err
	}
	agents, next, err := s.cfg.Store.ListAgents(ctx, filter, page)
	if err != nil {
		return nil, api.Error("listing agents", err)
	}
	resp := &agentv1.ListAgentsResponse{NextPageToken: next, Agents: make([]*types.Agent, len(agents))}
	for i, a := range agents {
		resp.Agents[i] = api.AgentToProto(a, req.OutputMask)
	}
	return resp, nil
}

// GetAgent implements agentv1.AgentServer.
func (s *Service) GetAgent(ctx context.Context, req *agentv1.GetAgentRequest) (*types.Agent, error) {
	id, err := s.agentID(req.Id)
	if err != nil {
		return nil, err
	}
	a, err := s.cfg.Store.GetAgent(ctx, id.String())
	if err != nil {
		return nil, api.Error("agent "+id.String(), err)
	}
	return api.AgentToProto(a, req.OutputMask), nil
}

// DeleteAgent implements agentv1.AgentServer (evict): the agent must attest again.
func (s *Service) DeleteAgent(ctx context.Context, req *agentv1.DeleteAgentRequest) (*emptypb.Empty, error) {
	id, err := s.agentID(req.Id)
	if err != nil {
		return nil, err
	}
	if err := s.cfg.Store.DeleteAgent(ctx, id.String()); err != nil {
		return nil, api.Error("evicting agent "+id.String(), err)
	}
	s.cfg.Log.Info("agent evicted", "agent_id", id.String())
	s.cfg.OnChange(id)
	return &emptypb.Empty{}, nil
}

// BanAgent implements agentv1.AgentServer: the agent's SVIDs stop working and it may
// not attest again until the record is deleted.
func (s *Service) BanAgent(ctx context.Context, req *agentv1.BanAgentRequest) (*emptypb.Empty, error) {
	id, err := s.agentID(req.Id)
	if err != nil {
		return nil, err
	}
	// Only the ban and the serials are written, unconditionally: whatever a renewal or an
	// activation read before, their conditional writes now fail instead of undoing the ban.
	ban := &datastore.Agent{ID: id.String(), Banned: true, UpdatedAt: s.cfg.Now().Unix()}
	mask := datastore.AgentMask{Banned: true, SerialNumber: true, NewSerialNumber: true}
	if _, err := s.cfg.Store.UpdateAgent(ctx, ban, mask, nil); err != nil {
		return nil, api.Error("banning agent "+id.String(), err)
	}
	s.cfg.Log.Info("agent banned", "agent_id", id.String())
	s.cfg.OnChange(id)
	return &emptypb.Empty{}, nil
}

// CreateJoinToken implements agentv1.AgentServer. With agent_id, it also registers a node
// alias so that the agent attested with the token holds that ID too.
func (s *Service) CreateJoinToken(ctx context.Context, req *agentv1.CreateJoinTokenRequest) (*types.JoinToken, error) {
	if req.Ttl <= 0 {
		return nil, api.Invalid("ttl is required: the token's lifetime in seconds (e.g. 600)")
	}
	if req.Ttl > api.MaxTTLSeconds {
		return nil, api.Invalid("ttl %d: at most %d seconds", req.Ttl, api.MaxTTLSeconds)
	}
	token := req.Token
	if token == "" {
		token = randomToken()
	} else if err := jointoken.ValidateToken(token); err != nil {
		return nil, api.Invalid("token: %v", err)
	}
	tokenAgentID, err := jointoken.AgentID(s.cfg.TrustDomain, token)
	if err != nil {
		return nil, api.Invalid("token: %v", err)
	}
	var alias *datastore.Entry
	if req.AgentId != nil {
		id, err := spireid.FromProto(req.AgentId)
		if err != nil {
			return nil, api.Invalid("agent_id: %v", err)
		}
		if !id.MemberOf(s.cfg.TrustDomain) {
			return nil, api.Invalid("agent_id %s: not in trust domain %q", id, s.cfg.TrustDomain.Name())
		}
		alias = &datastore.Entry{
			SPIFFEID:  id.String(),
			ParentID:  tokenAgentID.String(),
			Selectors: []attestors.Selector{{Type: "spiffe_id", Value: tokenAgentID.String()}},
		}
	}
	expires := s.cfg.Now().Add(time.Duration(req.Ttl) * time.Second)
	if err := s.cfg.Store.CreateJoinToken(ctx, &datastore.JoinToken{Token: token, ExpiresAt: expires}); err != nil {
		return nil, api.Error("creating join token", err)
	}
	if alias != nil {
		res, err := s.cfg.Store.CreateEntries(ctx, []*datastore.Entry{alias})
		if err == nil && res[0].Err != nil && !errors.Is(res[0].Err, datastore.ErrAlreadyExists) {
			err = res[0].Err
		}
		if err != nil {
			return nil, api.Error("registering agent_id for join token", err)
		}
	}
	return &types.JoinToken{Value: token, ExpiresAt: expires.Unix()}, nil
}

// maxAgentVersion bounds the version string an agent may have stored.
const maxAgentVersion = 128

// PostStatus implements agentv1.AgentServer. Lanyard pushes bundles, so the bundle serial
// needs no answer; the agent's version is recorded for `agent list|show`.
func (s *Service) PostStatus(ctx context.Context, req *agentv1.PostStatusRequest) (*agentv1.PostStatusResponse, error) {
	c := api.CallerFrom(ctx)
	if c.Kind != api.AgentCaller || c.Agent == nil {
		return nil, errNotAgent
	}
	v := req.AgentVersion
	if len(v) > maxAgentVersion || !utf8.ValidString(v) || strings.IndexFunc(v, unicode.IsControl) >= 0 {
		return nil, api.Invalid("agent_version: at most %d printable characters", maxAgentVersion)
	}
	if v != "" && v != c.Agent.AgentVersion {
		// Conditional like every agent write, so a report racing a ban cannot undo it.
		update := &datastore.Agent{ID: c.Agent.ID, AgentVersion: v, UpdatedAt: s.cfg.Now().Unix()}
		if _, err := s.cfg.Store.UpdateAgent(ctx, update, datastore.AgentMask{AgentVersion: true}, datastore.ConditionOf(c.Agent)); err != nil {
			if errors.Is(err, datastore.ErrConflict) {
				s.cfg.OnChange(c.ID) // the record the caller was checked with is stale
			}
			return nil, api.Error("recording agent version", err)
		}
	}
	return &agentv1.PostStatusResponse{}, nil
}

func (s *Service) agentID(p *types.SPIFFEID) (spiffeid.ID, error) {
	id, err := spireid.FromProto(p)
	if err != nil {
		return spiffeid.ID{}, api.Invalid("id: %v", err)
	}
	if !spireid.IsAgent(s.cfg.TrustDomain, id) {
		return spiffeid.ID{}, api.Invalid("id %s: not an agent ID of trust domain %q (spiffe://%s/spire/agent/...)", id, s.cfg.TrustDomain.Name(), s.cfg.TrustDomain.Name())
	}
	return id, nil
}

func randomToken() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on supported platforms
	return hex.EncodeToString(b[:4]) + "-" + hex.EncodeToString(b[4:6]) + "-" + hex.EncodeToString(b[6:8]) + "-" + hex.EncodeToString(b[8:10]) + "-" + hex.EncodeToString(b[10:])
}

func agentFilter(attType string, sel *types.SelectorMatch, banned, canReattest *wrapperspb.BoolValue, expiresBefore string) (datastore.AgentFilter, error) {
	f := datastore.AgentFilter{ByAttestationType: attType}
	if sel != nil {
		sels, err := api.ValidateSelectors(sel.Selectors)
		if err != nil {
			return f, api.Invalid("filter by_selector_match: %v", err)
		}
		m := datastore.MatchBehavior(sel.Match)
		if m < datastore.MatchExact || m > datastore.MatchAny {
			return f, api.Invalid("filter by_selector_match: unknown match behavior %d", sel.Match)
		}
		f.BySelectors = &datastore.SelectorMatch{Selectors: sels, Match: m}
	}
	if banned != nil {
		b := banned.GetValue()
		f.ByBanned = &b
	}
	if canReattest != nil {
		b := canReattest.GetValue()
		f.ByCanReattest = &b
	}
	if expiresBefore != "" {
		t, err := ParseExpiresBefore(expiresBefore)
		if err != nil {
			return f, api.Invalid("filter by_expires_before: %v", err)
		}
		f.ByExpiresBefore = t.Unix()
	}
	return f, nil
}

// SPIRETimeLayout is the time format SPIRE's CLI sends in by_expires_before.
const SPIRETimeLayout = "2006-01-02 15:04:05 -0700 -07"

// ParseExpiresBefore reads an agent expiry filter in RFC 3339 or in SPIRE's CLI format.
func ParseExpiresBefore(s string) (time.Time, error) {
	// Also Go's time.Time.String() form with a zone name, which operators paste from logs
	// ("2026-01-02 15:04:05 +0000 UTC").
	for _, layout := range []string{time.RFC3339, SPIRETimeLayout, "2006-01-02 15:04:05 -0700 MST"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is not a time: use RFC 3339 (2026-01-02T15:04:05Z) or SPIRE's %q", s, SPIRETimeLayout)
}

var errNotAgent = status.Error(codes.PermissionDenied, "only attested agents may renew agent SVIDs")
