package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health/grpc_health_v1"

	"github.com/lanyard-dev/lanyard/agent/config"
	"github.com/lanyard-dev/lanyard/internal/command"
)

// healthcheck asks whether the agent is ready: by default, as spire-agent healthcheck
// does, the gRPC health service on its Workload API socket (-socketPath); with -address,
// its health endpoint (health_address, HTTP /readyz). A deep check needs it ready,
// -shallow only needs an answer.
func healthcheck(fs *flag.FlagSet) command.Run {
	defaults := config.Default()
	socketPath := fs.String("socketPath", defaultSocket, "path to the agent's Workload API socket")
	addr := fs.String("address", "", "ask the agent's health endpoint (its health_address, e.g. "+defaults.HealthAddr()+") instead of its socket")
	h := command.HealthFlags(fs, "Agent")
	return func(ctx context.Context, _ *command.Env) (*command.Output, error) {
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		if *addr != "" {
			return healthOverHTTP(ctx, *addr, h)
		}
		return healthOverSocket(ctx, *socketPath, h)
	}
}

func healthOverSocket(ctx context.Context, socketPath string, h *command.Health) (*command.Output, error) {
	if socketPath == "" {
		return nil, errors.New("-socketPath must not be empty")
	}
	conn, err := grpc.NewClient("unix://"+socketPath, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, fmt.Errorf("-socketPath %q: %w", socketPath, err)
	}
	defer conn.Close()
	resp, err := grpc_health_v1.NewHealthClient(conn).Check(ctx, &grpc_health_v1.HealthCheckRequest{})
	if err != nil {
		return nil, fmt.Errorf("cannot reach the agent's Workload API socket %s: is lanyard-agent running? (set -socketPath to its socket_path): %w", socketPath, err)
	}
	return h.Report(resp.Status, "")
}

func healthOverHTTP(ctx context.Context, addr string, h *command.Health) (*command.Output, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/readyz", nil)
	if err != nil {
		return nil, fmt.Errorf("-address %q: %w", addr, err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("agent health endpoint %s unreachable: is lanyard-agent running? (set -address to its health_address) %w", addr, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		return h.Report(grpc_health_v1.HealthCheckResponse_NOT_SERVING, strings.TrimSpace(string(body)))
	}
	return h.Report(grpc_health_v1.HealthCheckResponse_SERVING, "")
}
