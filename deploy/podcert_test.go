package deploy

import (
	"testing"

	"github.com/lanyard-dev/lanyard/e2e/k8stest"
)

// TestPodCertificateManifestsAreAccepted applies the signer's RBAC and the example pod
// to a real apiserver (the e2e test TestPodCertificatesFromTheServerBinary runs the
// server with exactly that RBAC).
func TestPodCertificateManifestsAreAccepted(t *testing.T) {
	k := k8stest.Start(t)
	k.ApplyFile(t, "namespace.yaml", false)
	k.ApplyFile(t, "podcert.yaml", true)
	// For real: the pod's dry run needs its ServiceAccount to exist.
	objs := k.ApplyFile(t, "pod-certificate-example.yaml", false)
	if len(objs) != 2 || objs[1].GetKind() != "Pod" {
		t.Fatalf("applied %d objects, want the ServiceAccount and the Pod", len(objs))
	}
}
