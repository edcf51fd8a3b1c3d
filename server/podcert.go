package server

import (
	"fmt"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/clock"

	"github.com/lanyard-dev/lanyard/internal/kubeconfig"
	"github.com/lanyard-dev/lanyard/server/bundlecache"
	"github.com/lanyard-dev/lanyard/server/ca"
	"github.com/lanyard-dev/lanyard/server/clustertrustbundle"
	"github.com/lanyard-dev/lanyard/server/config"
	"github.com/lanyard-dev/lanyard/server/datastore"
	"github.com/lanyard-dev/lanyard/server/podcert"
)

// podCertificateJobs builds the PodCertificateRequest signer, which signs with the CA, and
// the ClusterTrustBundle publisher, which follows the bundle cache, when
// kubernetes_pod_certificates is configured.
func podCertificateJobs(cfg config.Config, td spiffeid.TrustDomain, authority *ca.CA, store datastore.Store,
	bundles *bundlecache.Cache, metrics prometheus.Registerer, clk clock.WithTicker, log *slog.Logger) ([]job, error) {
	k := cfg.KubernetesPodCertificates
	if k == nil {
		return nil, nil
	}
	rc, err := podCertRESTConfig(k)
	if err != nil {
		return nil, err
	}
	kube, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return nil, fmt.Errorf("kubernetes_pod_certificates: %w", err)
	}
	dyn, err := dynamic.NewForConfig(rc)
	if err != nil {
		return nil, fmt.Errorf("kubernetes_pod_certificates: %w", err)
	}
	signer, err := podcert.New(podcert.Config{
		TrustDomain: td, SignerName: k.SignerName, Kube: kube, Dynamic: dyn, CA: authority,
		DefaultIDTemplate: k.IDTemplate(), TTL: k.TTL.D(), RefreshAfter: k.RefreshAfter.D(), ClusterName: k.ClusterName, ClusterDomain: k.ClusterDomain,
		Clock: clk, Metrics: metrics, Log: log.With("component", "podcert"),
	})
	if err != nil {
		return nil, fmt.Errorf("kubernetes_pod_certificates: %w", err)
	}
	jobs := []job{{"podcert", signer.Run}}
	if !k.PublishTrustBundles() {
		return jobs, nil
	}
	p, err := clustertrustbundle.New(clustertrustbundle.Config{
		Kube: kube, TrustDomain: td.Name(), SignerName: k.SignerName, Bundles: store, Changes: bundles,
		Clock: clk, Log: log.With("component", "clustertrustbundle"),
	})
	if err != nil {
		return nil, fmt.Errorf("kubernetes_pod_certificates: %w", err)
	}
	return append(jobs, job{"clustertrustbundle", p.Run}), nil
}

// podCertRESTConfig is the signer's and publisher's client configuration, with the
// signer's rate limits (client-go's default would allow about one pod a second).
func podCertRESTConfig(k *config.KubernetesPodCertificatesConfig) (*rest.Config, error) {
	rc, err := kubeconfig.Load(k.KubeconfigPath, "podcert")
	if err != nil {
		return nil, fmt.Errorf("kubernetes_pod_certificates: %w", err)
	}
	rc.QPS, rc.Burst = podcert.ClientQPS, podcert.ClientBurst
	return rc, nil
}
