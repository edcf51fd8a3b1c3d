package k8stest

import (
	"slices"
	"testing"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
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
