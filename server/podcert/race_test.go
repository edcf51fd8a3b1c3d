package podcert

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/svid/x509svid"
	certsv1 "k8s.io/api/certificates/v1"

	"github.com/lanyard-dev/lanyard/e2e/k8stest"
	"github.com/lanyard-dev/lanyard/internal/poll"
)

// Servers sharing a datastore each run a signer with their own CA. Whatever the
// interleaving, a request gets one answer, the first stored.
func TestSignersOfServersSharingADatastoreIssueEachRequestOnce(t *testing.T) {
	c := startCluster(t)
	c.k.CreateNamespace(t, "shop")
	caA, caB := c.newCA(t, "server-a"), c.newCA(t, "server-b")

	t.Run("the signer that writes second conflicts and leaves the first chain", func(t *testing.T) {
		const name = "lanyard.dev/by-hand" // no running signer handles it
		pod := c.pod(t, "shop", "hand", "default", "node-1", name, nil)
		created, err := k8stest.CreatePodCertificateRequest(t, c.k.NodeClient(t, "node-1"), c.k.PodCertificateRequest(t, pod, name, ecKey(t)), true)
		if err != nil {
			t.Fatal(err)
		}
		a, b := c.idleSigner(t, caA, name), c.idleSigner(t, caB, name)
		// Both read the unanswered request and sign before either writes.
		ansA, err := a.decide(context.Background(), created)
		if err != nil || ansA.verdict != nil {
			t.Fatalf("server a: %v %+v", err, ansA.verdict)
		}
		ansB, err := b.decide(context.Background(), created)
		if err != nil || ansB.verdict != nil {
			t.Fatalf("server b: %v %+v", err, ansB.verdict)
		}
		if ansA.chain[0].Equal(ansB.chain[0]) {
			t.Fatal("two CAs signed the same certificate")
		}
		if err := a.write(context.Background(), created, ansA); err != nil {
			t.Fatal(err)
		}
		if err := b.write(context.Background(), created, ansB); err != nil {
			t.Fatalf("the losing write should end quietly once it sees the answer: %v", err)
		}
		final, cond := c.k.AwaitPodCertificateAnswer(t, "shop", created.Name, time.Second)
		if cond.Type != certsv1.PodCertificateRequestConditionTypeIssued || !chain(t, final)[0].Equal(ansA.chain[0]) {
			t.Fatal("the stored chain is not the first writer's")
		}
		if n := len(final.Status.Conditions); n != 1 {
			t.Fatalf("%d conditions, want one Issued", n)
		}
		if a.answers("issued") != 1 || b.answers("issued") != 0 || counter(t, b.metrics.conflicts) != 1 {
			t.Fatalf("issued a=%d b=%d, b's conflicts %v; want 1, 0, 1", a.answers("issued"), b.answers("issued"), counter(t, b.metrics.conflicts))
		}
	})

	t.Run("two running signers answer every request of a burst once", func(t *testing.T) {
		const name = "lanyard.dev/race"
		const n = 20
		var names []string
		for i := range n {
			pod := c.pod(t, "shop", fmt.Sprintf("burst-%d", i), "default", "node-1", name, nil)
			pcr, err := k8stest.CreatePodCertificateRequest(t, c.k.NodeClient(t, "node-1"), c.k.PodCertificateRequest(t, pod, name, ecKey(t)), true)
			if err != nil {
				t.Fatal(err)
			}
			names = append(names, pcr.Name)
		}
		// Started after the burst, both find all of it in their first list.
		a := c.runSigner(t, caA, func(cfg *Config) { cfg.SignerName = name })
		b := c.runSigner(t, caB, func(cfg *Config) { cfg.SignerName = name })
		bundle := c.trustBundle(t, name, noChanges{})
		for _, pcrName := range names {
			pcr, cond := c.k.AwaitPodCertificateAnswer(t, "shop", pcrName, 30*time.Second)
			if cond.Type != certsv1.PodCertificateRequestConditionTypeIssued || len(pcr.Status.Conditions) != 1 {
				t.Fatalf("%s: conditions %+v", pcrName, pcr.Status.Conditions)
			}
			if _, _, err := x509svid.Verify(chain(t, pcr), bundle); err != nil {
				t.Fatalf("%s: %v", pcrName, err)
			}
		}
		// Counters move after the write they count; wait for the last ones.
		got := func() int { return a.answers("issued") + b.answers("issued") }
		poll.Until(t, 10*time.Second, "the issued counters to reach the burst", func() bool { return got() >= n })
		if got() != n {
			t.Fatalf("the two signers recorded %d issued certificates for %d requests", got(), n)
		}
		t.Logf("issued by a: %d, by b: %d; conflicts a: %v, b: %v", a.answers("issued"), b.answers("issued"),
			counter(t, a.metrics.conflicts), counter(t, b.metrics.conflicts))
	})
}

// idleSigner is a Signer that is not running: the test drives decide and write.
func (c *cluster) idleSigner(t *testing.T, a CA, name string) *signer {
	s, err := New(Config{TrustDomain: td, SignerName: name, Kube: c.k.Client, CA: a,
		DefaultIDTemplate: "spiffe://{{ .TrustDomain }}/ns/{{ .PodMeta.Namespace }}/sa/{{ .PodSpec.ServiceAccountName }}"})
	if err != nil {
		t.Fatal(err)
	}
	return &signer{Signer: s}
}
