package k8sreg

import (
	"errors"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
)

// PodTemplate is an IdentityTemplate compiled to decide one pod's identity on demand,
// as the pod certificate signer (server/podcert) does, rather than to keep entries.
type PodTemplate struct{ c *compiled }

// CompilePodTemplate compiles an IdentityTemplate object. Its error names the spec field.
func CompilePodTemplate(obj *unstructured.Unstructured) (*PodTemplate, error) {
	c, err := compile(obj)
	if err != nil {
		return nil, err
	}
	return &PodTemplate{c: c}, nil
}

// NewPodTemplate is a template selecting every pod that renders only a SPIFFE ID, with
// the same template language and data as IdentityTemplates; field names it in errors.
func NewPodTemplate(field, spiffeIDTemplate string) (*PodTemplate, error) {
	if spiffeIDTemplate == "" {
		return nil, errors.New(field + " is empty")
	}
	t, err := parseTemplate(field, spiffeIDTemplate)
	if err != nil {
		return nil, err
	}
	return &PodTemplate{c: &compiled{name: field, spiffeID: t, podSel: labels.Everything(), nsSel: labels.Everything()}}, nil
}

// Name is the IdentityTemplate's name.
func (t *PodTemplate) Name() string { return t.c.name }

// PodCertificates reports whether the template opted in to pod certificates
// (spec.podCertificates).
func (t *PodTemplate) PodCertificates() bool { return t.c.podCerts }

// NeedsNamespace reports whether Selects looks at the pod's namespace.
func (t *PodTemplate) NeedsNamespace() bool { return !t.c.nsSel.Empty() }

// Selects reports whether the template's pod and namespace selectors match. ns may be
// nil when NeedsNamespace is false.
func (t *PodTemplate) Selects(pod *corev1.Pod, ns *corev1.Namespace) bool {
	if !t.c.nsSel.Empty() && (ns == nil || !t.c.nsSel.Matches(labels.Set(ns.Labels))) {
		return false
	}
	return t.c.podSel.Matches(labels.Set(pod.Labels))
}

// PodIdentity is what a template gives one pod.
type PodIdentity struct {
	ID       spiffeid.ID
	DNSNames []string
	// TTL is the template's spec.ttl, zero when it sets none.
	TTL time.Duration
}

// ClusterInfo is the cluster-wide template data.
type ClusterInfo struct {
	TrustDomain   spiffeid.TrustDomain
	ClusterName   string
	ClusterDomain string
}

// Identity renders the pod's SPIFFE ID (which must be in the trust domain) and DNS names.
func (t *PodTemplate) Identity(cl ClusterInfo, pod *corev1.Pod, node *corev1.Node) (PodIdentity, error) {
	data := &templateData{TrustDomain: cl.TrustDomain.Name(), ClusterName: cl.ClusterName, ClusterDomain: cl.ClusterDomain,
		PodMeta: &pod.ObjectMeta, PodSpec: &pod.Spec, NodeMeta: &node.ObjectMeta, NodeSpec: &node.Spec}
	id, dns, err := t.c.renderIdentity(cl.TrustDomain, data)
	if err != nil {
		return PodIdentity{}, err
	}
	return PodIdentity{ID: id, DNSNames: dns, TTL: time.Duration(t.c.x509TTL) * time.Second}, nil
}
