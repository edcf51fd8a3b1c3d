package workloadapi

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/spiffe/go-spiffe/v2/svid/jwtsvid"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/lanyard-dev/lanyard/agent/cache"
	"github.com/lanyard-dev/lanyard/attestors"
	"github.com/lanyard-dev/lanyard/attestors/unix"
)

func TestServeSocketPreparation(t *testing.T) {
	tests := []struct {
		name    string
		prepare func(t *testing.T, path string)
		wantErr string
	}{
		{
			name: "a stale socket from a previous run is replaced",
			prepare: func(t *testing.T, path string) {
				ln, err := net.Listen("unix", path)
				if err != nil {
					t.Fatal(err)
				}
				ln.(*net.UnixListener).SetUnlinkOnClose(false)
				ln.Close()
			},
		},
		{
			name: "a regular file in the way is not deleted",
			prepare: func(t *testing.T, path string) {
				if err := os.WriteFile(path, []byte("important"), 0o600); err != nil {
					t.Fatal(err)
				}
			},
			wantErr: "is not a socket",
		},
		{
			name: "a socket another agent is serving on is left alone",
			prepare: func(t *testing.T, path string) {
				ln, err := net.Listen("unix", path)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { ln.Close() })
			},
			wantErr: "another process is serving",
		},
		{
			name: "a directory another user can write to is refused",
			prepare: func(t *testing.T, path string) {
				if err := os.Chmod(filepath.Dir(path), 0o777); err != nil {
					t.Fatal(err)
				}
			},
			wantErr: "writable by other users",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir, err := os.MkdirTemp("", "lwapi")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { os.RemoveAll(dir) })
			path := filepath.Join(dir, "api.sock")
			tt.prepare(t, path)

			srv := New(Config{Cache: cache.New(td, nil, nil), Attestors: []attestors.WorkloadAttestor{unix.New(unix.DefaultConfig())}})
			ctx, cancel := context.WithCancel(context.Background())
			errc := make(chan error, 1)
			go func() { errc <- srv.Serve(ctx, path) }()
			if tt.wantErr != "" {
				err := <-errc
				cancel()
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Serve: %v, want an error about %q", err, tt.wantErr)
				}
				return
			}
			waitListening(t, path, errc)
			cancel()
			if err := <-errc; err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestRelativeSocketPathIsRefused(t *testing.T) {
	srv := New(Config{Cache: cache.New(td, nil, nil), Attestors: []attestors.WorkloadAttestor{unix.New(unix.DefaultConfig())}})
	if err := srv.Serve(context.Background(), "api.sock"); err == nil || !strings.Contains(err.Error(), "must be absolute") {
		t.Fatalf("Serve: %v", err)
	}
}

// failingAttestor stands for an attestor that cannot describe the caller.
type failingAttestor struct{}

func (failingAttestor) Attest(context.Context, int32) ([]attestors.Selector, error) {
	return nil, os.ErrPermission
}

func TestAttestationFailureFailsTheCall(t *testing.T) {
	e := start(t, func(c *Config) {
		c.Attestors = append(c.Attestors, failingAttestor{})
	})
	e.add("e1", "spiffe://example.org/web", nil, selfUID)
	_, err := e.client().FetchJWTSVID(ctxT(t), jwtsvid.Params{Audience: "db"})
	if status.Code(err) != codes.Unavailable || !strings.Contains(err.Error(), "workload attestation failed") {
		t.Fatalf("got %v; a failed attestor must not yield identities", err)
	}
}

func TestCallsAreCounted(t *testing.T) {
	e := start(t)
	e.add("e1", "spiffe://example.org/web", nil, selfUID)
	c := e.client()
	for range 3 {
		if _, err := c.FetchJWTSVID(ctxT(t), jwtsvid.Params{Audience: "db"}); err != nil {
			t.Fatal(err)
		}
	}
	_, _ = c.FetchJWTSVID(ctxT(t), jwtsvid.Params{})
	families, err := e.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, f := range families {
		if f.GetName() != "lanyard_agent_workload_api_calls_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			got[labels(m)] = m.GetCounter().GetValue()
		}
	}
	if got["FetchJWTSVID/OK"] != 3 || got["FetchJWTSVID/InvalidArgument"] != 1 {
		t.Fatalf("counters %v", got)
	}
}

func labels(m *dto.Metric) string {
	var method, code string
	for _, l := range m.GetLabel() {
		switch l.GetName() {
		case "method":
			method = l.GetValue()
		case "code":
			code = l.GetValue()
		}
	}
	return method + "/" + code
}
