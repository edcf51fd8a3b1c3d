package workloadapi

import (
	"context"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/lanyard-dev/lanyard/agent/peer"
	"github.com/lanyard-dev/lanyard/attestors"
)

// caller is an attested Workload API client.
type caller struct {
	info      *peer.AuthInfo
	selectors []attestors.Selector
}

// attest identifies the calling process. The pidfd check comes after the attestors:
// if the process that connected exited meanwhile, its PID may now name another process,
// whose selectors must not be used.
func (s *Server) attest(ctx context.Context) (*caller, error) {
	info, ok := peer.FromContext(ctx)
	if !ok {
		return nil, status.Error(codes.Internal, "caller has no peer credentials; the Workload API must be served on a unix socket")
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.AttestTimeout)
	defer cancel()

	sels, err := attestors.AttestAll(ctx, s.cfg.Attestors, info.PID)
	if err != nil {
		s.log.Warn("workload attestation failed", "pid", info.PID, "error", err)
		return nil, status.Errorf(codes.Unavailable, "workload attestation failed: %v", err)
	}
	if err := info.Check(); err != nil {
		return nil, status.Errorf(codes.PermissionDenied, "caller process %d exited during attestation: %v", info.PID, err)
	}
	s.log.Debug("workload attested", "pid", info.PID, "uid", info.UID, "selectors", len(sels))
	return &caller{info: info, selectors: sels}, nil
}

// stillCaller re-checks, before each push on a stream, that the attested process is the
// one on the connection.
func (c *caller) stillCaller() error {
	if err := c.info.Check(); err != nil {
		return status.Errorf(codes.PermissionDenied, "caller process %d is gone: %v", c.info.PID, err)
	}
	return nil
}
