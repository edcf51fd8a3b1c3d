package broker

import (
	"context"
	"errors"
	"strconv"
	"time"

	brokerv1 "github.com/spiffe/go-spiffe/v2/exp/proto/spiffe/broker"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/lanyard-dev/lanyard/agent/peer"
	"github.com/lanyard-dev/lanyard/attestors"
)

// The reasons of SPIFFE Broker API §4.8, sent as google.rpc.ErrorInfo.
const (
	reasonInvalid     = "WORKLOAD_REFERENCE_INVALID"
	reasonNotFound    = "WORKLOAD_NOT_FOUND"
	reasonNotEntitled = "WORKLOAD_NOT_ENTITLED"
)

// refError is a status carrying the reason, with the PID when there is one.
func refError(code codes.Code, reason string, pid int32, msg string) error {
	st := status.New(code, msg)
	info := &errdetails.ErrorInfo{Reason: reason, Domain: "spiffe.io"}
	if pid > 0 {
		info.Metadata = map[string]string{"pid": strconv.Itoa(int(pid))}
	}
	if withInfo, err := st.WithDetails(info); err == nil {
		st = withInfo
	}
	return st.Err()
}

// workload is a referenced process, attested by the agent and pinned (its pidfd) until
// release.
type workload struct {
	proc      *peer.Process
	selectors []attestors.Selector
}

func (w *workload) release() { w.proc.Close() }

func (w *workload) gone() error {
	return refError(codes.NotFound, reasonNotFound, w.proc.PID, "workload process "+strconv.Itoa(int(w.proc.PID))+" exited")
}

// resolve checks the reference and attests the process it names. Only
// WorkloadPIDReference is understood; other types are InvalidArgument, as §3.1.1 asks.
func (s *service) resolve(ctx context.Context, ref *brokerv1.WorkloadReference) (*workload, error) {
	if ref == nil || ref.Reference == nil {
		return nil, refError(codes.InvalidArgument, reasonInvalid, 0, "reference is required")
	}
	var pidRef brokerv1.WorkloadPIDReference
	if !ref.Reference.MessageIs(&pidRef) {
		return nil, refError(codes.InvalidArgument, reasonInvalid, 0,
			"reference type "+ref.Reference.TypeUrl+" is not supported by this agent: use spiffe.broker.WorkloadPIDReference")
	}
	if err := ref.Reference.UnmarshalTo(&pidRef); err != nil {
		return nil, refError(codes.InvalidArgument, reasonInvalid, 0, "WorkloadPIDReference does not decode: "+err.Error())
	}
	pid := pidRef.Pid
	if pid <= 0 {
		return nil, refError(codes.InvalidArgument, reasonInvalid, pid, "pid must be a positive integer")
	}
	proc, err := peer.Pin(pid)
	if errors.Is(err, peer.ErrExited) {
		return nil, refError(codes.NotFound, reasonNotFound, pid, "no process "+strconv.Itoa(int(pid))+" on this node")
	}
	if err != nil {
		return nil, status.Errorf(codes.Internal, "pinning process %d: %v", pid, err)
	}
	w := &workload{proc: proc}
	actx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	w.selectors, err = attestors.AttestAll(actx, s.cfg.Attestors, pid)
	if err != nil {
		w.release()
		s.cfg.Log.Warn("attesting a process for the Broker API failed", "pid", pid, "error", err)
		return nil, status.Errorf(codes.Unavailable, "attesting process %d failed: %v", pid, err)
	}
	if proc.Check() != nil {
		w.release()
		return nil, w.gone()
	}
	return w, nil
}
