package workloadapi

import (
	"context"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
)

// healthMethodsPrefix is the gRPC health service on the Workload API socket, which
// `spire-agent healthcheck -socketPath` and `lanyard-agent healthcheck` ask. It needs no
// security header: the answer says only whether the agent is ready, and a liveness probe
// cannot always set metadata.
var healthMethodsPrefix = "/" + grpc_health_v1.Health_ServiceDesc.ServiceName + "/"

// health answers for the whole agent (service "", or any name): SERVING when ready says
// so, NOT_SERVING with the reason logged otherwise.
type health struct {
	grpc_health_v1.UnimplementedHealthServer
	s *Server
}

func (h *health) Check(ctx context.Context, _ *grpc_health_v1.HealthCheckRequest) (*grpc_health_v1.HealthCheckResponse, error) {
	if h.s.cfg.Ready == nil {
		return &grpc_health_v1.HealthCheckResponse{Status: grpc_health_v1.HealthCheckResponse_SERVING}, nil
	}
	if err := h.s.cfg.Ready(ctx); err != nil {
		h.s.log.Debug("health check: not ready", "reason", err)
		return &grpc_health_v1.HealthCheckResponse{Status: grpc_health_v1.HealthCheckResponse_NOT_SERVING}, nil
	}
	return &grpc_health_v1.HealthCheckResponse{Status: grpc_health_v1.HealthCheckResponse_SERVING}, nil
}

// Watch is not offered: a probe asks again instead.
func (h *health) Watch(*grpc_health_v1.HealthCheckRequest, grpc_health_v1.Health_WatchServer) error {
	return status.Error(codes.Unimplemented, "health Watch is not served on the Workload API socket; call Check")
}
