package api

import (
	"context"
	"log/slog"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Policy says which callers may call a method.
type Policy int

const (
	// AnyCaller: open to everybody (GetBundle, AttestAgent, health).
	AnyCaller Policy = iota
	// AdminOnly: local (admin socket) callers and admin SVIDs.
	AdminOnly
	// AgentOnly: attested, non-banned agents.
	AgentOnly
	// AdminOrAgent: either of the above.
	AdminOrAgent
)

// Policies maps full gRPC method names ("/pkg.Service/Method") to their policy.
// Methods missing from the map are denied: a new method is closed until someone decides.
type Policies map[string]Policy

func (p Policies) allows(method string, c *Caller) bool {
	policy, ok := p[method]
	if !ok {
		return false
	}
	switch policy {
	case AnyCaller:
		return true
	case AdminOnly:
		return c.IsAdmin()
	case AgentOnly:
		return c.Kind == AgentCaller
	case AdminOrAgent:
		return c.IsAdmin() || c.Kind == AgentCaller
	}
	return false
}

// Identify finds the caller of an RPC.
type Identify func(ctx context.Context) (*Caller, error)

// LocalCaller identifies every caller as Local; it is for the admin unix socket only.
func LocalCaller(context.Context) (*Caller, error) { return &Caller{Kind: Local}, nil }

// Interceptors returns unary and stream interceptors that identify the caller, enforce
// the policies and put the caller in the context.
func Interceptors(identify Identify, policies Policies, log *slog.Logger) (grpc.UnaryServerInterceptor, grpc.StreamServerInterceptor) {
	authorize := func(ctx context.Context, method string) (context.Context, error) {
		caller, err := identify(ctx)
		if err != nil {
			log.Debug("rejected caller", "method", method, "error", err)
			return nil, err
		}
		if !policies.allows(method, caller) {
			log.Debug("denied caller", "method", method, "caller", caller.Kind.String(), "id", caller.ID.String())
			return nil, status.Errorf(codes.PermissionDenied, "%s callers may not call %s", caller.Kind, shortMethod(method))
		}
		return WithCaller(ctx, caller), nil
	}
	unary := func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		ctx, err := authorize(ctx, info.FullMethod)
		if err != nil {
			return nil, err
		}
		resp, err := handler(ctx, req)
		logInternal(log, info.FullMethod, err)
		return resp, err
	}
	stream := func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		ctx, err := authorize(ss.Context(), info.FullMethod)
		if err != nil {
			return err
		}
		err = handler(srv, &callerStream{ServerStream: ss, ctx: ctx})
		logInternal(log, info.FullMethod, err)
		return err
	}
	return unary, stream
}

type callerStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s *callerStream) Context() context.Context { return s.ctx }

func shortMethod(full string) string {
	if i := strings.LastIndex(full, "."); i >= 0 {
		return full[i+1:]
	}
	return full
}
