package cli

import (
	"context"
	"flag"

	"google.golang.org/grpc/health/grpc_health_v1"

	"github.com/lanyard-dev/lanyard/internal/command"
)

// healthcheck asks the standard gRPC health service about the whole server (service "").
// A deep check needs SERVING; -shallow only needs the server to answer, which tells a
// liveness probe the process is up even while it is not ready to serve.
func healthcheck(fs *flag.FlagSet) call {
	h := command.HealthFlags(fs, "Server")
	return call{Do: func(ctx context.Context, _ *command.Env, cl *client) (*command.Output, error) {
		resp, err := cl.health.Check(ctx, &grpc_health_v1.HealthCheckRequest{})
		if err != nil {
			return nil, rpcError("healthcheck", err)
		}
		return h.Report(resp.Status, "")
	}}
}
