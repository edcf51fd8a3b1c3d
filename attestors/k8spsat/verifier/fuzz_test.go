package verifier

import (
	"errors"
	"testing"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	authenticationv1 "k8s.io/api/authentication/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/lanyard-dev/lanyard/attestors"
)

// FuzzTokenReviewOwner feeds token review answers to the check of who a token belongs
// to. An accepted owner is an allowed ServiceAccount whose username reads back exactly,
// bound to a named pod, for one of the configured audiences.
func FuzzTokenReviewOwner(f *testing.F) {
	f.Add(true, "system:serviceaccount:spire:spire-agent", "spire-agent-x7k2p", "0b9c1f7e-2d4a-4c3b-9e8f-1a2b3c4d5e6f", "spire-server")
	f.Add(true, "system:serviceaccount:spire:spire-agent:extra", "p", "u", "spire-server")
	f.Add(true, "system:serviceaccount:spire:other", "p", "u", "spire-server")
	f.Add(true, "system:serviceaccount::spire-agent", "p", "u", "spire-server")
	f.Add(true, "system:node:worker-1", "p", "u", "spire-server")
	f.Add(true, "system:serviceaccount:spire:spire-agent", "", "", "spire-server")
	f.Add(true, "system:serviceaccount:spire:spire-agent", "p", "u", "api")
	f.Add(false, "system:serviceaccount:spire:spire-agent", "p", "u", "spire-server")
	client, err := kubernetes.NewForConfig(&rest.Config{Host: "https://127.0.0.1:1"}) // never called: owner only reads the review
	if err != nil {
		f.Fatal(err)
	}
	td := spiffeid.RequireTrustDomainFromString("example.org")
	c, err := newCluster(td, "prod", ClusterConfig{ServiceAccountAllowList: []string{"spire:spire-agent"}, Client: client})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, authenticated bool, username, podName, podUID, audience string) {
		st := authenticationv1.TokenReviewStatus{
			Authenticated: authenticated,
			Audiences:     []string{audience},
			User: authenticationv1.UserInfo{Username: username, Extra: map[string]authenticationv1.ExtraValue{
				extraPodName: {podName}, extraPodUID: {podUID},
			}},
		}
		who, err := c.owner(st)
		if err != nil {
			if !errors.Is(err, attestors.ErrRejected) {
				t.Fatalf("a refused token is not ErrRejected: %v", err)
			}
			return
		}
		switch {
		case !authenticated:
			t.Fatal("accepted a token the apiserver did not authenticate")
		case audience != DefaultAudience:
			t.Fatalf("accepted a token for audience %q", audience)
		case saUserPrefix+who.ns+":"+who.sa != username:
			t.Fatalf("username %q read as %s:%s", username, who.ns, who.sa)
		case who.ns+":"+who.sa != "spire:spire-agent":
			t.Fatalf("accepted ServiceAccount %s:%s outside the allow list", who.ns, who.sa)
		case who.podName != podName || who.podUID != podUID || podName == "" || podUID == "":
			t.Fatalf("accepted pod %q/%q for %q/%q", who.podName, who.podUID, podName, podUID)
		}
	})
}
