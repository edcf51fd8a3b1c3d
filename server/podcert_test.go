package server

import (
	"path/filepath"
	"testing"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/lanyard-dev/lanyard/server/config"
	"github.com/lanyard-dev/lanyard/server/podcert"
)

// TestPodCertificateClientIsNotHeldToClientGosDefaultRate: answering a request takes
// four or five API calls; with client-go's default 5 a second the server's signer
// answered about one pod a second.
func TestPodCertificateClientIsNotHeldToClientGosDefaultRate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kubeconfig")
	kc := clientcmdapi.NewConfig()
	kc.Clusters["c"] = &clientcmdapi.Cluster{Server: "https://127.0.0.1:6443"}
	kc.AuthInfos["u"] = &clientcmdapi.AuthInfo{Token: "t"}
	kc.Contexts["x"] = &clientcmdapi.Context{Cluster: "c", AuthInfo: "u"}
	kc.CurrentContext = "x"
	if err := clientcmd.WriteToFile(*kc, path); err != nil {
		t.Fatal(err)
	}
	rc, err := podCertRESTConfig(&config.KubernetesPodCertificatesConfig{KubeconfigPath: path})
	if err != nil {
		t.Fatal(err)
	}
	if rc.QPS != podcert.ClientQPS || rc.Burst != podcert.ClientBurst {
		t.Fatalf("QPS %v burst %d, want %v and %d", rc.QPS, rc.Burst, podcert.ClientQPS, podcert.ClientBurst)
	}
}
