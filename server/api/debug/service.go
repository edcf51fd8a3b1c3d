// Package debug implements spire-api-sdk's server debug/v1 service: what an operator on
// call asks first (how long up, how many agents, entries and federated bundles, and the
// server's own SVID chain).
package debug

import (
	"context"
	"crypto/tls"
	"time"

	debugv1 "github.com/spiffe/spire-api-sdk/proto/spire/api/server/debug/v1"

	"github.com/lanyard-dev/lanyard/internal/svidchain"
	"github.com/lanyard-dev/lanyard/server/api"
	"github.com/lanyard-dev/lanyard/server/datastore"
)

// Store is what the service counts.
type Store interface {
	CountAgents(ctx context.Context, filter datastore.AgentFilter) (int, error)
	CountEntries(ctx context.Context, filter datastore.EntryFilter) (int, error)
	CountBundles(ctx context.Context) (int, error)
}

// Config configures the service.
type Config struct {
	Store   Store
	Started time.Time
	// ServerSVID returns the server's current TLS certificate (nil before the first).
	ServerSVID func() *tls.Certificate
	Now        func() time.Time
}

// Service implements debugv1.DebugServer.
type Service struct {
	debugv1.UnimplementedDebugServer
	cfg Config
}

// New returns the service.
func New(cfg Config) *Service {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Service{cfg: cfg}
}

// GetInfo implements debugv1.DebugServer.
func (s *Service) GetInfo(ctx context.Context, _ *debugv1.GetInfoRequest) (*debugv1.GetInfoResponse, error) {
	agents, err := s.cfg.Store.CountAgents(ctx, datastore.AgentFilter{})
	if err != nil {
		return nil, api.Error("counting agents", err)
	}
	entries, err := s.cfg.Store.CountEntries(ctx, datastore.EntryFilter{})
	if err != nil {
		return nil, api.Error("counting entries", err)
	}
	bundles, err := s.cfg.Store.CountBundles(ctx)
	if err != nil {
		return nil, api.Error("counting bundles", err)
	}
	resp := &debugv1.GetInfoResponse{
		Uptime:                int32(s.cfg.Now().Sub(s.cfg.Started) / time.Second),
		AgentsCount:           int32(agents),
		EntriesCount:          int32(entries),
		FederatedBundlesCount: int32(max(bundles-1, 0)), // all but our own
	}
	if cert := s.cfg.ServerSVID(); cert != nil {
		for _, c := range svidchain.Describe(cert.Certificate) {
			resp.SvidChain = append(resp.SvidChain, &debugv1.GetInfoResponse_Cert{Id: c.ID, ExpiresAt: c.ExpiresAt, Subject: c.Subject})
		}
	}
	return resp, nil
}
