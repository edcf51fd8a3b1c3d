package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"google.golang.org/grpc/health/grpc_health_v1"

	"github.com/lanyard-dev/lanyard/agent/config"
	"github.com/lanyard-dev/lanyard/internal/command"
)

// healthcheck asks the agent's health endpoint (health_address) whether it is ready, the
// same check as the server's healthcheck: a deep check needs it ready, -shallow only
// needs an answer.
func healthcheck(fs *flag.FlagSet) command.Run {
	defaults := config.Default()
	addr := fs.String("address", defaults.HealthAddr(), "the agent's health_address")
	h := command.HealthFlags(fs, "Agent")
	return func(ctx context.Context, _ *command.Env) (*command.Output, error) {
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+*addr+"/readyz", nil)
		if err != nil {
			return nil, fmt.Errorf("-address %q: %w", *addr, err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return nil, fmt.Errorf("agent health endpoint %s unreachable: is lanyard-agent running? (set -address to its health_address) %w", *addr, err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		if resp.StatusCode != http.StatusOK {
			return h.Report(grpc_health_v1.HealthCheckResponse_NOT_SERVING, strings.TrimSpace(string(body)))
		}
		return h.Report(grpc_health_v1.HealthCheckResponse_SERVING, "")
	}
}
