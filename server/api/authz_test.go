package api

import (
	"context"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	"google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
)

// serveHealth starts a real gRPC server whose callers are all `caller`, guarded by policies.
func serveHealth(t *testing.T, caller *Caller, policies Policies) grpc_health_v1.HealthClient {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "s.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	identify := func(context.Context) (*Caller, error) { return caller, nil }
	unary, stream := Interceptors(identify, policies, slog.New(slog.NewTextHandler(io.Discard, nil)))
	srv := grpc.NewServer(grpc.UnaryInterceptor(unary), grpc.StreamInterceptor(stream))
	grpc_health_v1.RegisterHealthServer(srv, health.NewServer())
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(srv.Stop)
	conn, err := grpc.NewClient("unix://"+sock, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return grpc_health_v1.NewHealthClient(conn)
}

func TestInterceptorsEnforcePolicies(t *testing.T) {
	check := grpc_health_v1.Health_Check_FullMethodName
	tests := []struct {
		name   string
		policy *Policy // nil: method not listed
		caller CallerKind
		want   codes.Code
	}{
		{"an unlisted method is denied even to local admins", nil, Local, codes.PermissionDenied},
		{"an admin method is open to the admin socket", ptr(AdminOnly), Local, codes.OK},
		{"an admin method is open to admin SVIDs", ptr(AdminOnly), Admin, codes.OK},
		{"an admin method is closed to agents", ptr(AdminOnly), AgentCaller, codes.PermissionDenied},
		{"an admin method is closed to anonymous callers", ptr(AdminOnly), Anonymous, codes.PermissionDenied},
		{"an agent method is open to agents", ptr(AgentOnly), AgentCaller, codes.OK},
		{"an agent method is closed to anonymous callers", ptr(AgentOnly), Anonymous, codes.PermissionDenied},
		{"an agent method is closed to admins", ptr(AgentOnly), Local, codes.PermissionDenied},
		{"an open method serves anonymous callers", ptr(AnyCaller), Anonymous, codes.OK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			policies := Policies{}
			if tt.policy != nil {
				policies[check] = *tt.policy
			}
			c := serveHealth(t, &Caller{Kind: tt.caller}, policies)
			_, err := c.Check(context.Background(), &grpc_health_v1.HealthCheckRequest{})
			if got := status.Code(err); got != tt.want {
				t.Fatalf("code = %v (%v), want %v", got, err, tt.want)
			}
		})
	}
}

func ptr(p Policy) *Policy { return &p }
