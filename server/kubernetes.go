package server

import (
	"fmt"
	"log/slog"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/lanyard-dev/lanyard/internal/kubeconfig"
	"github.com/lanyard-dev/lanyard/server/config"
	"github.com/lanyard-dev/lanyard/server/k8sbundle"
	"github.com/lanyard-dev/lanyard/server/k8sreg"
)

// kubernetesJobs builds the pod registration controller and the bundle publisher when
// configured. The controller writes through the in-process entry service, so its entries
// are validated and pushed to agents like those an administrator creates.
func kubernetesJobs(cfg config.Config, td spiffeid.TrustDomain, entries k8sreg.EntryAPI, bundles k8sbundle.Source, log *slog.Logger) ([]job, error) {
	var jobs []job
	if k := cfg.KubernetesRegistration; k != nil {
		rc, err := kubeconfig.Load(k.KubeconfigPath, "k8sreg")
		if err != nil {
			return nil, fmt.Errorf("kubernetes_registration: %w", err)
		}
		kube, err := kubernetes.NewForConfig(rc)
		if err != nil {
			return nil, fmt.Errorf("kubernetes_registration: %w", err)
		}
		dyn, err := dynamic.NewForConfig(rc)
		if err != nil {
			return nil, fmt.Errorf("kubernetes_registration: %w", err)
		}
		c, err := k8sreg.New(k8sreg.Config{
			TrustDomain: td, Cluster: k.Cluster, ClusterDomain: k.ClusterDomain, Kube: kube, Dynamic: dyn,
			Entries: entries, Resync: k.ResyncInterval.D(), Log: log.With("component", "k8sreg"),
		})
		if err != nil {
			return nil, err
		}
		jobs = append(jobs, job{"k8sreg", c.Run})
	}
	if k := cfg.KubernetesBundle; k != nil {
		rc, err := kubeconfig.Load(k.KubeconfigPath, "k8sbundle")
		if err != nil {
			return nil, fmt.Errorf("kubernetes_bundle: %w", err)
		}
		kube, err := kubernetes.NewForConfig(rc)
		if err != nil {
			return nil, fmt.Errorf("kubernetes_bundle: %w", err)
		}
		p, err := k8sbundle.New(k8sbundle.Config{Kube: kube, Namespace: k.Namespace, ConfigMap: k.ConfigMap, Key: k.Key,
			Source: bundles, Log: log.With("component", "k8sbundle")})
		if err != nil {
			return nil, err
		}
		jobs = append(jobs, job{"k8sbundle", p.Run})
	}
	return jobs, nil
}
