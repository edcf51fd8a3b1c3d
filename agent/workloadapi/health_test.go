package workloadapi

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"

	"github.com/spiffe/go-spiffe/v2/proto/spiffe/workload"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
)

// TestHealthOnTheSocketFollowsReadinessWithoutTheSecurityHeader: a liveness probe (or
// spire-agent healthcheck -socketPath) asks the socket without the Workload API's header
// and learns whether the agent is ready; the Workload API itself still needs the header.
func TestHealthOnTheSocketFollowsReadinessWithoutTheSecurityHeader(t *testing.T) {
	var notReady atomic.Bool
	e := start(t, func(c *Config) {
		c.Ready = func(context.Context) error {
			if notReady.Load() {
				return errors.New("no agent SVID yet")
			}
			return nil
		}
	})
	conn, err := grpc.NewClient("unix://"+e.socket, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	health := grpc_health_v1.NewHealthClient(conn)
	for _, tt := range []struct {
		notReady bool
		want     grpc_health_v1.HealthCheckResponse_ServingStatus
	}{{false, grpc_health_v1.HealthCheckResponse_SERVING}, {true, grpc_health_v1.HealthCheckResponse_NOT_SERVING}} {
		notReady.Store(tt.notReady)
		resp, err := health.Check(ctxT(t), &grpc_health_v1.HealthCheckRequest{})
		if err != nil || resp.Status != tt.want {
			t.Fatalf("not ready %v: Check = %v, %v; want %v", tt.notReady, resp, err, tt.want)
		}
	}
	stream, err := workload.NewSpiffeWorkloadAPIClient(conn).FetchJWTBundles(ctxT(t), &workload.JWTBundlesRequest{})
	if err == nil {
		_, err = stream.Recv()
	}
	if status.Code(err) != codes.InvalidArgument {
		t.Fatalf("Workload API call without the header: %v; want InvalidArgument naming the header", err)
	}
}
