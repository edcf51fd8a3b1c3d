package server

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/lanyard-dev/lanyard/server/config"
)

// TestK8sPSATClusterThatCannotBeReachedStopsStart checks a k8s_psat cluster the server
// cannot build a client for fails start, naming the setting, rather than refusing
// every agent later. Attestation against a real apiserver is covered in e2e.
func TestK8sPSATClusterThatCannotBeReachedStopsStart(t *testing.T) {
	cfg := newConfig(t)
	cfg.NodeAttestors.K8sPSAT = &config.K8sPSAT{Clusters: map[string]config.K8sPSATCluster{
		"c1": {ServiceAccountAllowList: []string{"spire:spire-agent"}, KubeconfigPath: "/nonexistent/kubeconfig"},
	}}
	srv, err := Start(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err == nil {
		srv.Stop()
		_ = srv.Wait()
		t.Fatal("server started with an unusable kubeconfig")
	}
	if want := "clusters.c1: kubeconfig_path /nonexistent/kubeconfig"; !strings.Contains(err.Error(), want) {
		t.Fatalf("error = %v, want it to contain %q", err, want)
	}
}
