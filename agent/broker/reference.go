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

// refError is a status carrying the reason, with metadata naming the workload when
// there is one.
func refError(code codes.Code, reason string, meta map[string]string, msg string) error {
	st := status.New(code, msg)
	info := &errdetails.ErrorInfo{Reason: reason, Domain: "spiffe.io", Metadata: meta}
	if withInfo, err := st.WithDetails(info); err == nil {
		st = withInfo
	}
	return st.Err()
}

func invalid(msg string) error { return refError(codes.InvalidArgument, reasonInvalid, nil, msg) }

// workload is a referenced process, attested by the agent and pinned (its pidfd) until
// release, or a referenced pod (pod.go).
type workload struct {
	proc      *peer.Process // nil for a pod
	pod       *podWorkload  // nil for a process
	selectors []attestors.Selector
}

func (w *workload) release() {
	if w.proc != nil {
		w.proc.Close()
	}
}

// meta names the workload in errors.
func (w *workload) meta() map[string]string {
	if w.pod != nil {
		return w.pod.meta()
	}
	return map[string]string{"pid": strconv.Itoa(int(w.proc.PID))}
}

// exited is closed when a process exits; nil (never) for a pod, which check finds gone.
func (w *workload) exited() <-chan struct{} {
	if w.proc == nil {
		return nil
	}
	return w.proc.Exited()
}

// check returns the WORKLOAD_NOT_FOUND error when the workload is gone.
func (w *workload) check(ctx context.Context) error {
	if w.pod != nil {
		return w.pod.check(ctx)
	}
	if w.proc.Check() != nil {
		return w.gone()
	}
	return nil
}

func (w *workload) gone() error {
	return refError(codes.NotFound, reasonNotFound, w.meta(), "workload process "+strconv.Itoa(int(w.proc.PID))+" exited")
}

// resolve checks the reference and attests the workload it names:
// WorkloadPIDReference, or KubernetesObjectReference to a pod. Other types are
// InvalidArgument, as §3.1.1 asks.
func (s *service) resolve(ctx context.Context, ref *brokerv1.WorkloadReference) (*workload, error) {
	if ref == nil || ref.Reference == nil {
		return nil, invalid("reference is required")
	}
	var k8sRef brokerv1.KubernetesObjectReference
	if ref.Reference.MessageIs(&k8sRef) {
		if err := ref.Reference.UnmarshalTo(&k8sRef); err != nil {
			return nil, invalid("KubernetesObjectReference does not decode: " + err.Error())
		}
		return s.resolvePod(ctx, &k8sRef)
	}
	var pidRef brokerv1.WorkloadPIDReference
	if !ref.Reference.MessageIs(&pidRef) {
		return nil, invalid("reference type " + ref.Reference.TypeUrl +
			" is not supported by this agent: use spiffe.broker.WorkloadPIDReference or spiffe.broker.KubernetesObjectReference")
	}
	if err := ref.Reference.UnmarshalTo(&pidRef); err != nil {
		return nil, invalid("WorkloadPIDReference does not decode: " + err.Error())
	}
	pid := pidRef.Pid
	meta := map[string]string{"pid": strconv.Itoa(int(pid))}
	if pid <= 0 {
		return nil, refError(codes.InvalidArgument, reasonInvalid, meta, "pid must be a positive integer")
	}
	proc, err := peer.Pin(pid)
	if errors.Is(err, peer.ErrExited) {
		return nil, refError(codes.NotFound, reasonNotFound, meta, "no process "+strconv.Itoa(int(pid))+" on this node")
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
