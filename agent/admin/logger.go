package admin

import (
	"context"

	loggerv1 "github.com/spiffe/spire-api-sdk/proto/spire/api/agent/logger/v1"
	"github.com/spiffe/spire-api-sdk/proto/spire/api/types"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/lanyard-dev/lanyard/internal/loglevel"
)

// loggerService implements the agent's loggerv1.LoggerServer over one level Control.
type loggerService struct {
	loggerv1.UnimplementedLoggerServer
	levels *loglevel.Control
}

func (s *loggerService) GetLogger(context.Context, *loggerv1.GetLoggerRequest) (*types.Logger, error) {
	return s.levels.Logger(), nil
}

func (s *loggerService) SetLogLevel(_ context.Context, req *loggerv1.SetLogLevelRequest) (*types.Logger, error) {
	l, err := s.levels.Set(req.NewLevel)
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	return l, nil
}

func (s *loggerService) ResetLogLevel(context.Context, *loggerv1.ResetLogLevelRequest) (*types.Logger, error) {
	return s.levels.Reset(), nil
}
