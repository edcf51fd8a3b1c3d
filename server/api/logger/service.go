// Package logger implements spire-api-sdk's server logger/v1 service: read and change the
// server's log level while it runs.
package logger

import (
	"context"

	loggerv1 "github.com/spiffe/spire-api-sdk/proto/spire/api/server/logger/v1"
	"github.com/spiffe/spire-api-sdk/proto/spire/api/types"

	"github.com/lanyard-dev/lanyard/internal/loglevel"
	"github.com/lanyard-dev/lanyard/server/api"
)

// Service implements loggerv1.LoggerServer over one level Control.
type Service struct {
	loggerv1.UnimplementedLoggerServer
	levels *loglevel.Control
}

// New returns the service.
func New(levels *loglevel.Control) *Service { return &Service{levels: levels} }

// GetLogger implements loggerv1.LoggerServer.
func (s *Service) GetLogger(context.Context, *loggerv1.GetLoggerRequest) (*types.Logger, error) {
	return s.levels.Logger(), nil
}

// SetLogLevel implements loggerv1.LoggerServer.
func (s *Service) SetLogLevel(_ context.Context, req *loggerv1.SetLogLevelRequest) (*types.Logger, error) {
	l, err := s.levels.Set(req.NewLevel)
	if err != nil {
		return nil, api.Invalid("%v", err)
	}
	return l, nil
}

// ResetLogLevel implements loggerv1.LoggerServer.
func (s *Service) ResetLogLevel(context.Context, *loggerv1.ResetLogLevelRequest) (*types.Logger, error) {
	return s.levels.Reset(), nil
}
