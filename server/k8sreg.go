package server

import (
	"context"
	"fmt"

	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/lanyard-dev/lanyard/server/k8sreg"
)

// startKubernetesRegistration runs the pod registration controller when configured. It
// writes through the in-process entry service, so its entries are validated and pushed
// to agents like those an administrator creates.
func (s *Server) startKubernetesRegistration(ctx context.Context, entries k8sreg.EntryAPI) error {
	k := s.cfg.KubernetesRegistration
	if k == nil {
		return nil
	}
	var rc *rest.Config
	var err error
	if k.KubeconfigPath == "" {
		if rc, err = rest.InClusterConfig(); err != nil {
			return fmt.Errorf("kubernetes_registration: in-cluster config (set kubeconfig_path when the server runs outside the cluster): %w", err)
		}
	} else if rc, err = clientcmd.BuildConfigFromFlags("", k.KubeconfigPath); err != nil {
		return fmt.Errorf("kubernetes_registration.kubeconfig_path %s: %w", k.KubeconfigPath, err)
	}
	rc.UserAgent = "lanyard-server k8sreg"
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
	return nil
}
