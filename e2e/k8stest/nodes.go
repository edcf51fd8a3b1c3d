package k8stest

import (
	"path/filepath"
	"slices"
	"testing"

	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// NodeNames are the nodes whose kubelet identity (system:node:<name> in system:nodes) a
// test can act as with NodeClient; create the Node objects with these names.
var NodeNames = []string{"node-1", "node-2"}

// NodeClient is a clientset authenticated as the kubelet of node name (one of
// NodeNames), so requests pass the Node authorizer and NodeRestriction admission as a
// real kubelet's do.
func (c *Cluster) NodeClient(t testing.TB, name string) kubernetes.Interface {
	t.Helper()
	tok, ok := c.nodeTokens[name]
	if !ok {
		t.Fatalf("k8stest: no kubelet credentials for node %q; use one of %v", name, slices.Clone(NodeNames))
	}
	rc := rest.CopyConfig(c.RESTConfig)
	rc.BearerToken = tok
	client, err := kubernetes.NewForConfig(rc)
	if err != nil {
		t.Fatalf("k8stest: node client: %v", err)
	}
	return client
}

// ServiceAccountKubeconfig writes a kubeconfig file authenticating as ServiceAccount
// ns/name (a token valid for an hour), for a process that should run with exactly the
// RBAC a manifest grants that account.
func (c *Cluster) ServiceAccountKubeconfig(t testing.TB, ns, name string) string {
	t.Helper()
	hour := int64(3600)
	tr, err := c.Client.CoreV1().ServiceAccounts(ns).CreateToken(ctx(t), name,
		&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &hour}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("k8stest: token for service account %s/%s: %v", ns, name, err)
	}
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["k8stest"] = &clientcmdapi.Cluster{Server: c.URL, CertificateAuthorityData: c.CAPEM}
	cfg.AuthInfos[name] = &clientcmdapi.AuthInfo{Token: tr.Status.Token}
	cfg.Contexts["k8stest"] = &clientcmdapi.Context{Cluster: "k8stest", AuthInfo: name}
	cfg.CurrentContext = "k8stest"
	path := filepath.Join(t.TempDir(), ns+"-"+name+".kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		t.Fatalf("k8stest: writing kubeconfig: %v", err)
	}
	return path
}
