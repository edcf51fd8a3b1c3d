package config

import (
	"fmt"
	"strings"
	"text/template"
	"time"

	"github.com/lanyard-dev/lanyard/internal/yamlconf"
	"k8s.io/apimachinery/pkg/util/validation"
)

// DefaultPodCertSigner is the signer name pods ask for in their podCertificate volumes.
const DefaultPodCertSigner = "lanyard.dev/spiffe-x509"

// DefaultPodCertIDTemplate is the identity of a pod no IdentityTemplate opted in to pod
// certificates selects: the usual Kubernetes SPIFFE ID shape.
const DefaultPodCertIDTemplate = "spiffe://{{ .TrustDomain }}/ns/{{ .PodMeta.Namespace }}/sa/{{ .PodSpec.ServiceAccountName }}"

// Lifetime bounds the apiserver enforces on pod certificates.
const (
	minPodCertTTL = time.Hour
	maxPodCertTTL = 91 * 24 * time.Hour
)

// KubernetesPodCertificatesConfig makes the server the signer of Kubernetes
// PodCertificateRequests for SignerName and publishes its trust bundles as
// ClusterTrustBundles. Absent: off.
type KubernetesPodCertificatesConfig struct {
	// KubeconfigPath is a kubeconfig file; empty uses the in-cluster service account.
	KubeconfigPath string `yaml:"kubeconfig_path"`
	// SignerName is what pods name in spec.volumes[].projected.sources[].podCertificate.
	// Default lanyard.dev/spiffe-x509.
	SignerName string `yaml:"signer_name"`
	// DefaultSPIFFEIDTemplate renders the SPIFFE ID of pods that no IdentityTemplate with
	// podCertificates: true selects. Default DefaultPodCertIDTemplate; "" denies such pods.
	DefaultSPIFFEIDTemplate *string `yaml:"default_spiffe_id_template"`
	// TTL is the certificate lifetime when the template sets none, within the request's
	// maxExpirationSeconds. Default 1h (the apiserver's minimum).
	TTL yamlconf.Duration `yaml:"ttl"`
	// RefreshAfter is how long after a certificate's notBefore the kubelet is told to
	// renew it (status.beginRefreshAt). Default: half the lifetime. At least 10m, the
	// apiserver's floor; the kubelet adds up to 5 minutes of jitter of its own.
	RefreshAfter yamlconf.Duration `yaml:"refresh_after"`
	// ClusterName and ClusterDomain are .ClusterName and .ClusterDomain in templates.
	// Defaults "" and cluster.local.
	ClusterName   string `yaml:"cluster_name"`
	ClusterDomain string `yaml:"cluster_domain"`
	// TrustBundles publishes the trust domain's and federated bundles as
	// ClusterTrustBundles of the signer. Default true.
	TrustBundles *bool `yaml:"trust_bundles"`
}

// IDTemplate is the default SPIFFE ID template, "" when pods need an IdentityTemplate.
func (k *KubernetesPodCertificatesConfig) IDTemplate() string {
	if k.DefaultSPIFFEIDTemplate == nil {
		return DefaultPodCertIDTemplate
	}
	return *k.DefaultSPIFFEIDTemplate
}

// PublishTrustBundles reports whether ClusterTrustBundles are published.
func (k *KubernetesPodCertificatesConfig) PublishTrustBundles() bool {
	return k.TrustBundles == nil || *k.TrustBundles
}

func (c *Config) validateKubernetesPodCertificates() error {
	k := c.KubernetesPodCertificates
	if k == nil {
		return nil
	}
	if err := checkKubeconfig("kubernetes_pod_certificates.kubeconfig_path", k.KubeconfigPath); err != nil {
		return err
	}
	if k.SignerName == "" {
		k.SignerName = DefaultPodCertSigner
	}
	if err := checkSignerName(k.SignerName); err != nil {
		return yamlconf.FieldError("kubernetes_pod_certificates.signer_name", fmt.Sprintf("%q: %v", k.SignerName, err))
	}
	if k.TTL == 0 {
		k.TTL = yamlconf.Duration(minPodCertTTL)
	}
	if d := k.TTL.D(); d < minPodCertTTL || d > maxPodCertTTL {
		return yamlconf.FieldError("kubernetes_pod_certificates.ttl", fmt.Sprintf("(%s) must be between 1h and 2184h (91 days): the apiserver refuses pod certificates outside that", d))
	}
	if k.TTL.D() > c.CATTL.D() {
		return yamlconf.FieldError("kubernetes_pod_certificates.ttl", fmt.Sprintf("(%s) must not exceed ca_ttl (%s): certificates cannot outlive their CA", k.TTL.D(), c.CATTL.D()))
	}
	if d := k.RefreshAfter.D(); d != 0 && (d < 10*time.Minute || d > k.TTL.D()-10*time.Minute) {
		return yamlconf.FieldError("kubernetes_pod_certificates.refresh_after", fmt.Sprintf("(%s) must be between 10m and ttl minus 10m (%s), where the apiserver accepts beginRefreshAt; leave it out for half the lifetime", d, k.TTL.D()-10*time.Minute))
	}
	if k.ClusterDomain == "" {
		k.ClusterDomain = "cluster.local"
	}
	if t := k.IDTemplate(); t != "" {
		if _, err := template.New("").Parse(t); err != nil {
			return yamlconf.FieldError("kubernetes_pod_certificates.default_spiffe_id_template", fmt.Sprintf("%q: %v (Go text/template, e.g. %s)", t, err, DefaultPodCertIDTemplate))
		}
	}
	return nil
}

// checkSignerName applies the apiserver's rules for signer names: "<domain>/<path>",
// the domain of at least two DNS labels and outside kubernetes.io (reserved), the path
// of DNS subdomains separated by dots.
func checkSignerName(name string) error {
	domain, path, ok := strings.Cut(name, "/")
	if !ok || strings.Contains(path, "/") || path == "" {
		return fmt.Errorf("write it as <domain>/<name> with exactly one '/', e.g. %s", DefaultPodCertSigner)
	}
	labels := strings.Split(domain, ".")
	if len(labels) < 2 || len(domain) > validation.DNS1123SubdomainMaxLength {
		return fmt.Errorf("the domain %q needs at least two dot-separated labels, e.g. example.com", domain)
	}
	for _, l := range labels {
		if errs := validation.IsDNS1123Label(l); len(errs) > 0 {
			return fmt.Errorf("the domain label %q: %s", l, errs[0])
		}
	}
	if domain == "kubernetes.io" || strings.HasSuffix(domain, ".kubernetes.io") {
		return fmt.Errorf("signer names under kubernetes.io are reserved for Kubernetes; use a domain of your own")
	}
	for _, p := range strings.Split(path, ".") {
		if errs := validation.IsDNS1123Subdomain(p); len(errs) > 0 {
			return fmt.Errorf("the name part %q: %s", p, errs[0])
		}
	}
	if len(path) > validation.DNS1123SubdomainMaxLength+validation.DNS1123LabelMaxLength+1 {
		return fmt.Errorf("the name part is longer than the apiserver allows")
	}
	return nil
}
