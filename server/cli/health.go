package cli

import (
	"context"
	"fmt"

	"google.golang.org/grpc/health/grpc_health_v1"
)

// healthcheck asks the standard gRPC health service about the whole server (service "").
// A deep check needs SERVING; -shallow only needs the server to answer, which tells a
// liveness probe the process is up even while it is not ready to serve.
func healthcheck(ctx context.Context, e *env, args []string) error {
	fs, c := newFlags("healthcheck")
	shallow := fs.Bool("shallow", false, "only check that the server answers, not that it is ready")
	verbose := fs.Bool("verbose", false, "print the status the server reports")
	if err := parse(e, fs, c, args); err != nil {
		return err
	}
	cl, err := dial(ctx, c.socketPath)
	if err != nil {
		return err
	}
	defer cl.Close()
	resp, err := cl.health.Check(ctx, &grpc_health_v1.HealthCheckRequest{})
	if err != nil {
		return rpcError("healthcheck", err)
	}
	if *verbose && c.output != "json" {
		fmt.Fprintf(e.stdout, "Health status: %s\n", resp.Status)
	}
	if !*shallow && resp.Status != grpc_health_v1.HealthCheckResponse_SERVING {
		return fmt.Errorf("server is unhealthy: health status %s", resp.Status)
	}
	if c.output == "json" {
		return printJSON(e, resp)
	}
	if resp.Status != grpc_health_v1.HealthCheckResponse_SERVING {
		fmt.Fprintf(e.stdout, "Server is alive (health status %s).\n", resp.Status)
		return nil
	}
	fmt.Fprintln(e.stdout, "Server is healthy.")
	return nil
}
