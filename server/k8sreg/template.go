package k8sreg

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"text/template"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/spire-api-sdk/proto/spire/api/types"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// GVR is the IdentityTemplate resource (deploy/crds/identitytemplates.yaml).
var GVR = schema.GroupVersionResource{Group: "lanyard.dev", Version: "v1alpha1", Resource: "identitytemplates"}

// EntryIDPrefix marks the entries this controller owns; it deletes no other entry.
const EntryIDPrefix = "k8sreg."

// Spec is an IdentityTemplate's spec. Field names follow SPIRE's ClusterSPIFFEID so
// templates migrate with their text unchanged.
type Spec struct {
	SPIFFEIDTemplate          string                `json:"spiffeIDTemplate"`
	PodSelector               *metav1.LabelSelector `json:"podSelector,omitempty"`
	NamespaceSelector         *metav1.LabelSelector `json:"namespaceSelector,omitempty"`
	DNSNameTemplates          []string              `json:"dnsNameTemplates,omitempty"`
	WorkloadSelectorTemplates []string              `json:"workloadSelectorTemplates,omitempty"`
	TTL                       string                `json:"ttl,omitempty"`
	JWTTTL                    string                `json:"jwtTtl,omitempty"`
	FederatesWith             []string              `json:"federatesWith,omitempty"`
	Hint                      string                `json:"hint,omitempty"`
	Admin                     bool                  `json:"admin,omitempty"`
	Downstream                bool                  `json:"downstream,omitempty"`
	// PodCertificates lets the pod certificate signer (server/podcert) issue this
	// template's identity to the pods it selects.
	PodCertificates bool `json:"podCertificates,omitempty"`
}

// templateData is what templates see: the same names as SPIRE's ClusterSPIFFEID.
type templateData struct {
	TrustDomain   string
	ClusterName   string
	ClusterDomain string
	PodMeta       *metav1.ObjectMeta
	PodSpec       *corev1.PodSpec
	NodeMeta      *metav1.ObjectMeta
	NodeSpec      *corev1.NodeSpec
}

// compiled is a parsed IdentityTemplate, ready to render entries for pods.
type compiled struct {
	name, uid    string
	spiffeID     *template.Template
	dnsNames     []*template.Template
	selectors    []*template.Template
	podSel       labels.Selector
	nsSel        labels.Selector
	x509TTL      int32
	jwtTTL       int32
	federates    []string
	hint         string
	admin, downs bool
	podCerts     bool
}

// compile parses an IdentityTemplate object. Its error is shown in the object's status.
func compile(obj *unstructured.Unstructured) (*compiled, error) {
	raw, _ := obj.Object["spec"].(map[string]any)
	var spec Spec
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(raw, &spec); err != nil {
		return nil, fmt.Errorf("spec: %w", err)
	}
	c := &compiled{name: obj.GetName(), uid: string(obj.GetUID()), federates: spec.FederatesWith, hint: spec.Hint,
		admin: spec.Admin, downs: spec.Downstream, podCerts: spec.PodCertificates}
	if strings.TrimSpace(spec.SPIFFEIDTemplate) == "" {
		return nil, errors.New("spec.spiffeIDTemplate is required")
	}
	var err error
	if c.spiffeID, err = parseTemplate("spec.spiffeIDTemplate", spec.SPIFFEIDTemplate); err != nil {
		return nil, err
	}
	for i, t := range spec.DNSNameTemplates {
		pt, err := parseTemplate(fmt.Sprintf("spec.dnsNameTemplates[%d]", i), t)
		if err != nil {
			return nil, err
		}
		c.dnsNames = append(c.dnsNames, pt)
	}
	for i, t := range spec.WorkloadSelectorTemplates {
		pt, err := parseTemplate(fmt.Sprintf("spec.workloadSelectorTemplates[%d]", i), t)
		if err != nil {
			return nil, err
		}
		c.selectors = append(c.selectors, pt)
	}
	if c.podSel, err = selector("spec.podSelector", spec.PodSelector); err != nil {
		return nil, err
	}
	if c.nsSel, err = selector("spec.namespaceSelector", spec.NamespaceSelector); err != nil {
		return nil, err
	}
	if c.x509TTL, err = ttlSeconds("spec.ttl", spec.TTL); err != nil {
		return nil, err
	}
	if c.jwtTTL, err = ttlSeconds("spec.jwtTtl", spec.JWTTTL); err != nil {
		return nil, err
	}
	for i, td := range spec.FederatesWith {
		if _, err := spiffeid.TrustDomainFromString(td); err != nil {
			return nil, fmt.Errorf("spec.federatesWith[%d] %q: %w", i, td, err)
		}
	}
	return c, nil
}

func parseTemplate(field, text string) (*template.Template, error) {
	t, err := template.New(field).Option("missingkey=error").Parse(text)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", field, err)
	}
	return t, nil
}

// selector converts a label selector; an absent one selects everything.
func selector(field string, ls *metav1.LabelSelector) (labels.Selector, error) {
	if ls == nil {
		return labels.Everything(), nil
	}
	s, err := metav1.LabelSelectorAsSelector(ls)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", field, err)
	}
	return s, nil
}

func ttlSeconds(field, s string) (int32, error) {
	if s == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < time.Second || d > 365*24*time.Hour {
		return 0, fmt.Errorf("%s %q: write a duration between 1s and 8760h, e.g. 1h", field, s)
	}
	return int32(d / time.Second), nil
}

func render(t *template.Template, data *templateData) (string, error) {
	var b bytes.Buffer
	if err := t.Execute(&b, data); err != nil {
		return "", err
	}
	return strings.TrimSpace(b.String()), nil
}

// entryFor renders the entry for one pod on node, parented to the node's agent.
func (c *compiled) entryFor(td spiffeid.TrustDomain, cluster, clusterDomain string, pod *corev1.Pod, node *corev1.Node) (*types.Entry, error) {
	data := &templateData{TrustDomain: td.Name(), ClusterName: cluster, ClusterDomain: clusterDomain,
		PodMeta: &pod.ObjectMeta, PodSpec: &pod.Spec, NodeMeta: &node.ObjectMeta, NodeSpec: &node.Spec}
	id, dnsNames, err := c.renderIdentity(td, data)
	if err != nil {
		return nil, err
	}
	parent := spiffeid.RequireFromSegments(td, "spire", "agent", "k8s_psat", cluster, string(node.UID))
	e := &types.Entry{
		Id:            EntryID(c.uid, string(pod.UID)),
		SpiffeId:      &types.SPIFFEID{TrustDomain: td.Name(), Path: id.Path()},
		ParentId:      &types.SPIFFEID{TrustDomain: td.Name(), Path: parent.Path()},
		Selectors:     []*types.Selector{{Type: "k8s", Value: "pod-uid:" + string(pod.UID)}},
		X509SvidTtl:   c.x509TTL,
		JwtSvidTtl:    c.jwtTTL,
		FederatesWith: c.federates,
		Hint:          c.hint,
		Admin:         c.admin,
		Downstream:    c.downs,
		DnsNames:      dnsNames,
	}
	for i, t := range c.selectors {
		s, err := render(t, data)
		if err != nil {
			return nil, fmt.Errorf("workloadSelectorTemplates[%d]: %w", i, err)
		}
		typ, val, ok := strings.Cut(s, ":")
		if !ok || typ == "" || val == "" {
			return nil, fmt.Errorf("workloadSelectorTemplates[%d] rendered %q: want type:value, e.g. k8s:ns:default", i, s)
		}
		e.Selectors = append(e.Selectors, &types.Selector{Type: typ, Value: val})
	}
	return e, nil
}

// renderIdentity renders the SPIFFE ID, which must be in td, and the DNS names.
func (c *compiled) renderIdentity(td spiffeid.TrustDomain, data *templateData) (spiffeid.ID, []string, error) {
	raw, err := render(c.spiffeID, data)
	if err != nil {
		return spiffeid.ID{}, nil, fmt.Errorf("spiffeIDTemplate: %w", err)
	}
	id, err := spiffeid.FromString(raw)
	if err != nil {
		return spiffeid.ID{}, nil, fmt.Errorf("spiffeIDTemplate rendered %q: %w", raw, err)
	}
	if id.TrustDomain() != td {
		return spiffeid.ID{}, nil, fmt.Errorf("spiffeIDTemplate rendered %q, outside trust domain %q", raw, td.Name())
	}
	var dnsNames []string
	for i, t := range c.dnsNames {
		name, err := render(t, data)
		if err != nil {
			return spiffeid.ID{}, nil, fmt.Errorf("dnsNameTemplates[%d]: %w", i, err)
		}
		dnsNames = append(dnsNames, name)
	}
	return id, dnsNames, nil
}

// EntryID is the ID of the entry for one (template, pod) pair. It is derived, not random,
// so servers sharing a datastore, or one restarting, agree on it and never duplicate.
func EntryID(templateUID, podUID string) string {
	sum := sha256.Sum256([]byte(templateUID + "/" + podUID))
	return EntryIDPrefix + hex.EncodeToString(sum[:16])
}
