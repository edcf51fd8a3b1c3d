package server

import (
	"context"
	"fmt"

	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/lanyard-dev/lanyard/server/clustertrustbundle"
	"github.com/lanyard-dev/lanyard/server/podcert"
)

// startPodCertificates runs the PodCertificateRequest signer and the ClusterTrustBundle
// publisher when kubernetes_pod_certificates is configured.
func (s *Server) startPodCertificates(ctx context.Context) error {
	k := s.cfg.KubernetesPodCertificates
	if k == nil {
		return nil
	}
	rc, err := kubeConfig("kubernetes_pod_certificates", k.KubeconfigPath, "podcert")
	if err != nil {
		return err
	}
	kube, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return fmt.Errorf("kubernetes_pod_certificates: %w", err)
	}
	dyn, err := dynamic.NewForConfig(rc)
	if err != nil {
		return fmt.Errorf("kubernetes_pod_certificates: %w", err)
	}
	signer, err := podcert.New(podcert.Config{
		TrustDomain: s.td, SignerName: k.SignerName, Kube: kube, Dynamic: dyn, CA: s.ca,
		DefaultIDTemplate: k.IDTemplate(), TTL: k.TTL.D(), ClusterName: k.ClusterName, ClusterDomain: k.ClusterDomain,
		Clock: s.clk, Metrics: s.reg, Log: s.log.With("component", "podcert"),
	})
	if err != nil {
		return fmt.Errorf("kubernetes_pod_certificates: %w", err)
	}
	s.goRun("podcert", func() error { return signer.Run(ctx) })
	if !k.PublishTrustBundles() {
		return nil
	}
	p, err := clustertrustbundle.New(clustertrustbundle.Config{
		Kube: kube, TrustDomain: s.td.Name(), SignerName: k.SignerName, Bundles: s.store, Changes: s.bundles,
		Clock: s.clk, Log: s.log.With("component", "clustertrustbundle"),
	})
	if err != nil {
		return fmt.Errorf("kubernetes_pod_certificates: %w", err)
	}
	s.goRun("clustertrustbundle", func() error { return p.Run(ctx) })
	return nil
}
