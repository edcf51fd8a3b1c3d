package admin

import (
	"context"
	"time"

	debugv1 "github.com/spiffe/spire-api-sdk/proto/spire/api/agent/debug/v1"

	"github.com/lanyard-dev/lanyard/internal/svidchain"
)

// debugService implements the agent's debugv1.DebugServer.
type debugService struct {
	debugv1.UnimplementedDebugServer
	cfg Config
}

func (s *debugService) GetInfo(context.Context, *debugv1.GetInfoRequest) (*debugv1.GetInfoResponse, error) {
	_, x509s := s.cfg.X509.Counts()
	jwts := s.cfg.JWT.Count()
	resp := &debugv1.GetInfoResponse{
		Uptime:               int32(s.cfg.Clock.Since(s.cfg.Started) / time.Second),
		SvidsCount:           int32(x509s), // deprecated for the two below; kept for older clients
		CachedX509SvidsCount: int32(x509s),
		CachedJwtSvidsCount:  int32(jwts),
	}
	if t := s.cfg.Sync.LastSync(); !t.IsZero() {
		resp.LastSyncSuccess = t.Unix()
	}
	for _, c := range svidchain.Describe(s.cfg.Identity.SVIDChain()) {
		resp.SvidChain = append(resp.SvidChain, &debugv1.GetInfoResponse_Cert{Id: c.ID, ExpiresAt: c.ExpiresAt, Subject: c.Subject})
	}
	return resp, nil
}
