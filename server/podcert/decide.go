package podcert

import (
	"context"
	"fmt"
	"slices"
	"strings"

	certsv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/lanyard-dev/lanyard/server/api"
	"github.com/lanyard-dev/lanyard/server/k8sreg"
)

// Reasons of Denied and Failed conditions besides the two Kubernetes defines
// (UnsupportedKeyType, InvalidUnverifiedUserAnnotations).
const (
	// ReasonPodMismatch: the pod, node or service account the request names does not
	// exist, or its UID, node or service account differ from the request's.
	ReasonPodMismatch = "PodMismatch"
	// ReasonPodTerminating: the pod is being deleted or has finished.
	ReasonPodTerminating = "PodTerminating"
	// ReasonNoIdentity: no IdentityTemplate with podCertificates: true selects the pod
	// and no default identity is configured.
	ReasonNoIdentity = "NoIdentityTemplate"
	// ReasonTemplateFailed (Failed): the template selecting the pod did not render.
	ReasonTemplateFailed = "TemplateRenderFailed"
	// ReasonSigningFailed (Failed): the CA could not sign.
	ReasonSigningFailed = "SigningFailed"
)

// verdict is a request's answer without an issued certificate: a Denied or Failed
// condition type with its reason and message.
type verdict struct{ typ, reason, message string }

func deny(reason, format string, args ...any) *verdict {
	return &verdict{typ: certsv1.PodCertificateRequestConditionTypeDenied, reason: reason, message: fmt.Sprintf(format, args...)}
}

func fail(reason, format string, args ...any) *verdict {
	return &verdict{typ: certsv1.PodCertificateRequestConditionTypeFailed, reason: reason, message: fmt.Sprintf(format, args...)}
}

// subject is what the checks found: the pod, its node and the identity to issue.
type subject struct {
	pod      *corev1.Pod
	node     *corev1.Node
	identity k8sreg.PodIdentity
	template string
}

// check verifies the request against the cluster and decides the pod's identity. A
// non-nil error is transient (the apiserver could not be read) and is retried.
func (s *Signer) check(ctx context.Context, pcr *certsv1.PodCertificateRequest) (*subject, *verdict, error) {
	if keys := annotationKeys(pcr.Spec.UnverifiedUserAnnotations); len(keys) > 0 {
		return nil, deny(certsv1.PodCertificateRequestConditionInvalidUserConfig,
			"this signer takes no unverifiedUserAnnotations (userAnnotations of the podCertificate volume); remove %s", strings.Join(keys, ", ")), nil
	}
	spec, ns := &pcr.Spec, pcr.Namespace
	pod, err := s.cfg.Kube.CoreV1().Pods(ns).Get(ctx, spec.PodName, metav1.GetOptions{})
	if v, err := missing(err, "pod %s/%s", ns, spec.PodName); v != nil || err != nil {
		return nil, v, err
	}
	switch {
	case pod.UID != spec.PodUID:
		return nil, deny(ReasonPodMismatch, "pod %s/%s has UID %s, the request names %s", ns, pod.Name, pod.UID, spec.PodUID), nil
	case pod.Spec.NodeName != string(spec.NodeName):
		return nil, deny(ReasonPodMismatch, "pod %s/%s runs on node %q, the request names node %q", ns, pod.Name, pod.Spec.NodeName, spec.NodeName), nil
	case pod.Spec.ServiceAccountName != spec.ServiceAccountName:
		return nil, deny(ReasonPodMismatch, "pod %s/%s runs as service account %q, the request names %q", ns, pod.Name, pod.Spec.ServiceAccountName, spec.ServiceAccountName), nil
	case pod.DeletionTimestamp != nil || pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed:
		return nil, deny(ReasonPodTerminating, "pod %s/%s is terminating or has finished", ns, pod.Name), nil
	}
	node, err := s.cfg.Kube.CoreV1().Nodes().Get(ctx, string(spec.NodeName), metav1.GetOptions{})
	if v, err := missing(err, "node %s", spec.NodeName); v != nil || err != nil {
		return nil, v, err
	}
	if node.UID != spec.NodeUID {
		return nil, deny(ReasonPodMismatch, "node %s has UID %s, the request names %s", node.Name, node.UID, spec.NodeUID), nil
	}
	sa, err := s.cfg.Kube.CoreV1().ServiceAccounts(ns).Get(ctx, spec.ServiceAccountName, metav1.GetOptions{})
	if v, err := missing(err, "service account %s/%s", ns, spec.ServiceAccountName); v != nil || err != nil {
		return nil, v, err
	}
	if sa.UID != spec.ServiceAccountUID {
		return nil, deny(ReasonPodMismatch, "service account %s/%s has UID %s, the request names %s", ns, sa.Name, sa.UID, spec.ServiceAccountUID), nil
	}
	return s.identify(ctx, pod, node)
}

// missing turns a failed Get into a denial (not found) or a transient error.
func missing(err error, format string, args ...any) (*verdict, error) {
	switch {
	case err == nil:
		return nil, nil
	case apierrors.IsNotFound(err):
		return deny(ReasonPodMismatch, "%s does not exist", fmt.Sprintf(format, args...)), nil
	default:
		return nil, fmt.Errorf("reading %s: %w", fmt.Sprintf(format, args...), err)
	}
}

// identify picks the first template by name that opted in and selects the pod, else
// the default identity.
func (s *Signer) identify(ctx context.Context, pod *corev1.Pod, node *corev1.Node) (*subject, *verdict, error) {
	templates, broken := s.templates.podTemplates()
	var ns *corev1.Namespace
	for _, t := range templates {
		if t.NeedsNamespace() && ns == nil {
			var err error
			if ns, err = s.cfg.Kube.CoreV1().Namespaces().Get(ctx, pod.Namespace, metav1.GetOptions{}); err != nil {
				return nil, nil, fmt.Errorf("reading namespace %s: %w", pod.Namespace, err)
			}
		}
		if t.Selects(pod, ns) {
			return s.render(t, "IdentityTemplate "+t.Name(), pod, node)
		}
	}
	if s.def != nil {
		return s.render(s.def, "default_spiffe_id_template", pod, node)
	}
	msg := fmt.Sprintf("no IdentityTemplate with podCertificates: true selects pod %s/%s, and the signer has no default identity", pod.Namespace, pod.Name)
	if len(broken) > 0 {
		slices.Sort(broken)
		msg += "; templates that did not compile: " + strings.Join(broken, "; ")
	}
	return nil, deny(ReasonNoIdentity, "%s", msg), nil
}

func (s *Signer) render(t *k8sreg.PodTemplate, from string, pod *corev1.Pod, node *corev1.Node) (*subject, *verdict, error) {
	id, err := t.Identity(k8sreg.ClusterInfo{TrustDomain: s.cfg.TrustDomain, ClusterName: s.cfg.ClusterName, ClusterDomain: s.cfg.ClusterDomain}, pod, node)
	if err != nil {
		return nil, fail(ReasonTemplateFailed, "%s for pod %s/%s: %v", from, pod.Namespace, pod.Name, err), nil
	}
	for _, name := range id.DNSNames {
		// The rules entries' DNS names follow, so a template means the same for both.
		if err := api.ValidateDNSName(name); err != nil {
			return nil, fail(ReasonTemplateFailed, "%s for pod %s/%s: dnsNameTemplates: %v", from, pod.Namespace, pod.Name, err), nil
		}
	}
	return &subject{pod: pod, node: node, identity: id, template: from}, nil, nil
}

func annotationKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
