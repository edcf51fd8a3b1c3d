package k8s

import (
	"context"
	"errors"
	"fmt"

	"github.com/lanyard-dev/lanyard/attestors"
)

// ErrPodNotFound is returned by PodSelectors when the kubelet of this node lists no
// such pod.
var ErrPodNotFound = errors.New("no such pod on this node")

// PodRef names a pod by Namespace and Name, by UID, or by both (then the pod so named
// must have that UID).
type PodRef struct {
	Namespace, Name, UID string
}

func (r PodRef) String() string {
	switch {
	case r.Name == "":
		return "pod with UID " + r.UID
	case r.UID == "":
		return "pod " + r.Namespace + "/" + r.Name
	}
	return "pod " + r.Namespace + "/" + r.Name + " with UID " + r.UID
}

// PodSelectors returns the pod-level selectors of a pod running on this node: the
// selectors Attest gives each of its containers, without container-name and
// container-image. A pod missing from the (cached) pod list is looked up once more in
// a fresh one before ErrPodNotFound.
func (a *Attestor) PodSelectors(ctx context.Context, ref PodRef) ([]attestors.Selector, error) {
	if ref.UID == "" && (ref.Namespace == "" || ref.Name == "") {
		return nil, errors.New("k8s attestor: a pod is named by namespace and name, or by UID")
	}
	seen := -1
	for attempt := 0; attempt < 2; attempt++ {
		list, gen, err := a.cache.get(ctx, a, seen)
		if err != nil {
			return nil, fmt.Errorf("k8s attestor: %w", err)
		}
		if p := findPod(list, ref); p != nil {
			return podSelectors(p), nil
		}
		seen = gen
	}
	return nil, fmt.Errorf("k8s attestor: %s: %w", ref, ErrPodNotFound)
}

// findPod returns the pod ref names; with both a name and a UID, the named pod must have
// that UID.
func findPod(list []pod, ref PodRef) *pod {
	for i := range list {
		m := &list[i].Metadata
		byName := ref.Name != "" && m.Namespace == ref.Namespace && m.Name == ref.Name
		byUID := ref.UID != "" && m.UID == ref.UID
		switch {
		case ref.Name != "" && ref.UID != "":
			if byName && byUID {
				return &list[i]
			}
		case byName || byUID:
			return &list[i]
		}
	}
	return nil
}

// CloseIdleConnections closes the kept-alive connections to the kubelet, for an agent
// that stops.
func (a *Attestor) CloseIdleConnections() { a.kubelet.client.CloseIdleConnections() }
