package server

import (
	"context"
	"fmt"

	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/lanyard-dev/lanyard/server/k8sbundle"
	"github.com/lanyard-dev/lanyard/server/k8sreg"
)

// kubeConfig loads a kubeconfig file, or the in-cluster service account when path is
// empty; key names the setting in errors.
func kubeConfig(key, path, agent string) (*rest.Config, error) {
	var rc *rest.Config
	var err error
	if path == "" {
		if rc, err = rest.InClusterConfig(); err != nil {
			return nil, fmt.Errorf("%s: in-cluster config (set kubeconfig_path when the server runs outside the cluster): %w", key, err)
		}
	} else if rc, err = clientcmd.BuildConfigFromFlags("", path); err != nil {
		return nil, fmt.Errorf("%s.kubeconfig_path %s: %w", key, path, err)
	}
	rc.UserAgent = "lanyard-server " + agent
	return rc, nil
}

// startKubernetes runs the pod registration controller and the bundle publisher when
// configured. The controller writes through the in-process entry service, so its entries
// are validated and pushed to agents like those an administrator creates.
func (s *Server) startKubernetes(ctx context.Context, entries k8sreg.EntryAPI) error {
	if k := s.cfg.KubernetesRegistration; k != nil {
		rc, err := kubeConfig("kubernetes_registration", k.KubeconfigPath, "k8sreg")
		if err != nil {
			return err
		}
		kube, err := kubernetes.NewForConfig(rc)
		if err != nil {
			return fmt.Errorf("kubernetes_registration: %w", err)
		}
		dyn, err := dynamic.NewForConfig(rc)
		if err != nil {
			return fmt.Errorf("kubernetes_registration: %w", err)
		}
		c, err := k8sreg.New(k8sreg.Config{
			TrustDomain: s.td, Cluster: k.Cluster, ClusterDomain: k.ClusterDomain, Kube: kube, Dynamic: dyn,
			Entries: entries, Resync: k.ResyncInterval.D(), Log: s.log.With("component", "k8sreg"),
		})
		if err != nil {
			return err
		}
		s.goRun("k8sreg", func() error { return c.Run(ctx) })
	}
	if k := s.cfg.KubernetesBundle; k != nil {
		rc, err := kubeConfig("kubernetes_bundle", k.KubeconfigPath, "k8sbundle")
		if err != nil {
			return err
		}
		kube, err := kubernetes.NewForConfig(rc)
		if err != nil {
			return fmt.Errorf("kubernetes_bundle: %w", err)
		}
		p, err := k8sbundle.New(k8sbundle.Config{Kube: kube, Namespace: k.Namespace, ConfigMap: k.ConfigMap, Key: k.Key,
			Source: s.bundles, Log: s.log.With("component", "k8sbundle")})
		if err != nil {
			return err
		}
		s.goRun("k8sbundle", func() error { return p.Run(ctx) })
	}
	return s.startPodCertificates(ctx)
}
