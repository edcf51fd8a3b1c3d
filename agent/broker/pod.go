package broker

import (
	"context"
	"errors"
	"time"

	"github.com/google/uuid"
	brokerv1 "github.com/spiffe/go-spiffe/v2/exp/proto/spiffe/broker"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/lanyard-dev/lanyard/attestors"
	"github.com/lanyard-dev/lanyard/attestors/k8s"
)

// Pods resolves pods on this node into their pod-level selectors; the k8s workload
// attestor is one.
type Pods interface {
	PodSelectors(ctx context.Context, ref k8s.PodRef) ([]attestors.Selector, error)
}

// podWorkload is a referenced pod; it is looked up again at every check, so a stream
// for a deleted pod ends at the next update (at the latest when its SVIDs are renewed).
type podWorkload struct {
	ref  k8s.PodRef
	pods Pods
}

func (p *podWorkload) meta() map[string]string {
	m := map[string]string{}
	if p.ref.Name != "" {
		m["namespace"], m["name"] = p.ref.Namespace, p.ref.Name
	}
	if p.ref.UID != "" {
		m["uid"] = p.ref.UID
	}
	return m
}

// selectors looks the pod up, with the error the broker gets.
func (p *podWorkload) selectors(ctx context.Context) ([]attestors.Selector, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	sels, err := p.pods.PodSelectors(ctx, p.ref)
	if errors.Is(err, k8s.ErrPodNotFound) {
		return nil, refError(codes.NotFound, reasonNotFound, p.meta(), "the kubelet of this node lists no "+p.ref.String())
	}
	if err != nil {
		return nil, status.Errorf(codes.Unavailable, "looking up %s failed: %v", p.ref, err)
	}
	return sels, nil
}

func (p *podWorkload) check(ctx context.Context) error {
	_, err := p.selectors(ctx)
	return err
}

// resolvePod checks a KubernetesObjectReference (only pods, group core, are workloads
// here) and finds the pod on this node.
func (s *service) resolvePod(ctx context.Context, ref *brokerv1.KubernetesObjectReference) (*workload, error) {
	if t := ref.GetType(); t.GetPlural() != "pods" || t.GetGroup() != "core" {
		return nil, invalid("KubernetesObjectReference type " + t.GetPlural() + "." + t.GetGroup() +
			" is not supported by this agent: only pods (plural \"pods\", group \"core\") are workloads")
	}
	p := &podWorkload{pods: s.cfg.Pods}
	if k := ref.GetKey(); k != nil {
		if k.Namespace == "" || k.Name == "" {
			return nil, invalid("KubernetesObjectReference key: pods are namespaced; set both namespace and name")
		}
		p.ref.Namespace, p.ref.Name = k.Namespace, k.Name
	}
	if ref.Uid != "" {
		if _, err := uuid.Parse(ref.Uid); err != nil {
			return nil, invalid("KubernetesObjectReference uid " + ref.Uid + " is not a UUID")
		}
		p.ref.UID = ref.Uid
	}
	if p.ref.Name == "" && p.ref.UID == "" {
		return nil, invalid("KubernetesObjectReference: set key (namespace and name) or uid")
	}
	if s.cfg.Pods == nil {
		return nil, invalid("this agent has no Kubernetes workload attestor (workload_attestors.k8s), so it cannot resolve pods: use a WorkloadPIDReference")
	}
	sels, err := p.selectors(ctx)
	if err != nil {
		if status.Code(err) == codes.Unavailable {
			s.cfg.Log.Warn("looking up a pod for the Broker API failed", "pod", p.ref.String(), "error", err)
		}
		return nil, err
	}
	return &workload{pod: p, selectors: sels}, nil
}
