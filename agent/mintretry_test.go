package agent

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	svidv1 "github.com/spiffe/spire-api-sdk/proto/spire/api/server/svid/v1"
	"github.com/spiffe/spire-api-sdk/proto/spire/api/types"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"

	"github.com/lanyard-dev/lanyard/internal/poll"
)

// refuser stands for a server that refuses one entry's X.509-SVID while refusing is set:
// it sits on the agent's side of its connections (a gRPC interceptor), lets the real
// server answer BatchNewX509SVID, and replaces that entry's result with NotFound. The
// real server cannot be made to refuse an entry it authorizes and later accept it
// unchanged, which is what the agent must cope with (a transient signing failure, an
// authorization the server has not caught up with).
type refuser struct {
	entryID  string
	refusing atomic.Bool
	refused  atomic.Int32
}

func (r *refuser) intercept(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoke grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	err := invoke(ctx, method, req, reply, cc, opts...)
	if err != nil || method != svidv1.SVID_BatchNewX509SVID_FullMethodName || !r.refusing.Load() {
		return err
	}
	resp := reply.(*svidv1.BatchNewX509SVIDResponse)
	for i, p := range req.(*svidv1.BatchNewX509SVIDRequest).Params {
		if p.EntryId == r.entryID && i < len(resp.Results) {
			resp.Results[i] = &svidv1.BatchNewX509SVIDResponse_Result{Status: &types.Status{
				Code: int32(codes.NotFound), Message: "entry " + p.EntryId + " does not exist or is not authorized for this agent"}}
			r.refused.Add(1)
		}
	}
	return nil
}

// TestRefusedSVIDIsAskedForAgainUntilServed: an SVID the server refuses is not dropped
// until the next complete resync; the agent asks for it again after a backoff, keeps
// asking while it is refused, and serves it once the server accepts. The other entries
// of the same batch are served meanwhile.
func TestRefusedSVIDIsAskedForAgainUntilServed(t *testing.T) {
	e := newEnv(t)
	cfg, agentID := e.agentConfig()
	e.entry("accepted", agentID, 0)
	r := &refuser{entryID: e.entry("refused", agentID, 0)}
	r.refusing.Store(true)
	a := e.startAgent(cfg, func(o *options) { o.dial = append(o.dial, grpc.WithChainUnaryInterceptor(r.intercept)) })
	a.servesID(t, "accepted")

	refusals := func() int { return strings.Count(a.log.String(), "server refused an SVID; asking again later") }
	poll.Until(t, 30*time.Second, "the agent to log the refusal", func() bool { return refusals() == 1 })
	// The retry waits on the agent's clock: past the longest backoff it asks again.
	a.clock.Step(2 * time.Minute)
	poll.Until(t, 30*time.Second, "the agent to ask again for the refused SVID", func() bool { return refusals() == 2 })
	if got := r.refused.Load(); got != 2 {
		t.Fatalf("the server was asked %d times for the refused SVID, want 2", got)
	}

	r.refusing.Store(false)
	a.clock.Step(2 * time.Minute)
	a.servesID(t, "refused")
	a.servesID(t, "accepted")
	e.shutdown(a)
}
