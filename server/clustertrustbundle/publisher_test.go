package clustertrustbundle_test

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"path/filepath"
	"strings"
	"testing"
	"time"

	certsv1 "k8s.io/api/certificates/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/lanyard-dev/lanyard/e2e/k8stest"
	"github.com/lanyard-dev/lanyard/internal/poll"
	"github.com/lanyard-dev/lanyard/internal/testca"
	"github.com/lanyard-dev/lanyard/server/ca"
	"github.com/lanyard-dev/lanyard/server/clustertrustbundle"
	"github.com/lanyard-dev/lanyard/server/datastore"
	"github.com/lanyard-dev/lanyard/server/datastore/sqlite"
	"github.com/lanyard-dev/lanyard/server/keymanager"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
)

const signer = "lanyard.dev/spiffe-x509"

// changes stands in for the server's bundle source: the test signals after it changed
// the datastore, as the source does after it re-read it.
type changes chan struct{}

func (c changes) Subscribe() (<-chan struct{}, func()) { return c, func() {} }

func TestPublisherKeepsClusterTrustBundlesEqualToTheStoredBundles(t *testing.T) {
	k := k8stest.Start(t)
	ctx := context.Background()
	store, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "ds.sqlite3"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	authority, err := ca.New(ctx, ca.Config{TrustDomain: spiffeid.RequireTrustDomainFromString("example.org"), ServerID: "s1",
		KeyManager: keymanager.NewMemory(), Store: store})
	if err != nil {
		t.Fatal(err)
	}
	signal := make(changes, 1)
	p, err := clustertrustbundle.New(clustertrustbundle.Config{Kube: k.Client, TrustDomain: "example.org", SignerName: signer,
		Bundles: store, Changes: signal})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- p.Run(runCtx) }()
	t.Cleanup(func() { cancel(); <-done })
	changed := func() { signal <- struct{}{} }

	get := func(td string) (*certsv1.ClusterTrustBundle, error) {
		return k.Client.CertificatesV1().ClusterTrustBundles().Get(ctx, clustertrustbundle.Name(signer, td), metav1.GetOptions{})
	}
	holds := func(td string, want ...*x509.Certificate) func() bool {
		return func() bool {
			ctb, err := get(td)
			if err != nil {
				return false
			}
			got := certificates(t, ctb.Spec.TrustBundle)
			if len(got) != len(want) {
				return false
			}
			for i := range want {
				if !got[i].Equal(want[i]) {
					return false
				}
			}
			return true
		}
	}

	t.Run("the trust domain's authorities are published for the signer at start, labelled own", func(t *testing.T) {
		poll.Until(t, 20*time.Second, "the own ClusterTrustBundle", holds("example.org", authority.X509Authorities()...))
		ctb, _ := get("example.org")
		if ctb.Name != "lanyard.dev:spiffe-x509:example.org" || ctb.Spec.SignerName != signer ||
			ctb.Labels[clustertrustbundle.LabelKind] != "own" || ctb.Labels[clustertrustbundle.LabelTrustDomain] != "example.org" {
			t.Fatalf("name %s, signer %s, labels %v", ctb.Name, ctb.Spec.SignerName, ctb.Labels)
		}
	})
	t.Run("a forced rotation's prepared authority is added", func(t *testing.T) {
		if _, err := authority.PrepareX509(ctx); err != nil {
			t.Fatal(err)
		}
		if n := len(authority.X509Authorities()); n != 2 {
			t.Fatalf("%d authorities after prepare", n)
		}
		changed()
		poll.Until(t, 20*time.Second, "the prepared CA in the ClusterTrustBundle", holds("example.org", authority.X509Authorities()...))
	})
	partner, _ := testca.New(t, "partner CA", nil, nil, time.Now().Add(time.Hour))
	t.Run("a federated trust domain's bundle is published, labelled with its name", func(t *testing.T) {
		if _, err := store.SetBundle(ctx, &datastore.Bundle{TrustDomain: "partner.example", X509Authorities: []datastore.X509Authority{{DER: partner.Raw}}}); err != nil {
			t.Fatal(err)
		}
		changed()
		poll.Until(t, 20*time.Second, "the partner's ClusterTrustBundle", holds("partner.example", partner))
		ctb, _ := get("partner.example")
		if ctb.Labels[clustertrustbundle.LabelKind] != "federated" || ctb.Labels[clustertrustbundle.LabelTrustDomain] != "partner.example" {
			t.Fatalf("labels %v", ctb.Labels)
		}
	})
	t.Run("a trust domain name that is no DNS name gets a hashed object name", func(t *testing.T) {
		if _, err := store.SetBundle(ctx, &datastore.Bundle{TrustDomain: "under_score.example", X509Authorities: []datastore.X509Authority{{DER: partner.Raw}}}); err != nil {
			t.Fatal(err)
		}
		changed()
		poll.Until(t, 20*time.Second, "the under_score bundle", holds("under_score.example", partner))
		ctb, _ := get("under_score.example")
		if !strings.HasPrefix(ctb.Name, "lanyard.dev:spiffe-x509:td-") || ctb.Labels[clustertrustbundle.LabelTrustDomain] != "under_score.example" {
			t.Fatalf("name %s, labels %v", ctb.Name, ctb.Labels)
		}
	})
	manual, err := k.Client.CertificatesV1().ClusterTrustBundles().Create(ctx, &certsv1.ClusterTrustBundle{
		ObjectMeta: metav1.ObjectMeta{Name: "lanyard.dev:spiffe-x509:by-hand"},
		Spec:       certsv1.ClusterTrustBundleSpec{SignerName: signer, TrustBundle: pemOf(partner)},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Run("a deleted federation's bundle is removed; objects made by others stay", func(t *testing.T) {
		for _, td := range []string{"partner.example", "under_score.example"} {
			if err := store.DeleteBundle(ctx, td, datastore.DeleteDissociate); err != nil {
				t.Fatal(err)
			}
		}
		changed()
		poll.Until(t, 20*time.Second, "the partner's ClusterTrustBundle to go", func() bool {
			_, err := get("partner.example")
			return apierrors.IsNotFound(err)
		})
		if _, err := get("under_score.example"); !apierrors.IsNotFound(err) {
			t.Fatalf("the under_score bundle: %v", err)
		}
		if _, err := k.Client.CertificatesV1().ClusterTrustBundles().Get(ctx, manual.Name, metav1.GetOptions{}); err != nil {
			t.Fatalf("an object the publisher did not make was touched: %v", err)
		}
		if !holds("example.org", authority.X509Authorities()...)() {
			t.Fatal("the own bundle changed")
		}
	})
	t.Run("two servers' publishers on one datastore converge without failing", func(t *testing.T) {
		other, err := clustertrustbundle.New(clustertrustbundle.Config{Kube: k.Client, TrustDomain: "example.org", SignerName: signer,
			Bundles: store, Changes: make(changes)})
		if err != nil {
			t.Fatal(err)
		}
		second, _ := testca.New(t, "second partner CA", nil, nil, time.Now().Add(time.Hour))
		for _, td := range []string{"a.example", "b.example"} {
			if _, err := store.SetBundle(ctx, &datastore.Bundle{TrustDomain: td, X509Authorities: []datastore.X509Authority{{DER: second.Raw}}}); err != nil {
				t.Fatal(err)
			}
		}
		errs := make(chan error, 2)
		for _, pub := range []*clustertrustbundle.Publisher{p, other} {
			go func() { errs <- pub.Publish(ctx) }()
		}
		for range 2 {
			if err := <-errs; err != nil && !strings.Contains(err.Error(), "another writer") {
				t.Fatalf("a publisher failed on the other's writes: %v", err)
			}
		}
		if err := other.Publish(ctx); err != nil {
			t.Fatalf("after the race: %v", err)
		}
		for _, td := range []string{"a.example", "b.example"} {
			if !holds(td, second)() {
				t.Fatalf("%s not published", td)
			}
		}
	})
	t.Run("an edited object is set back at the next publication", func(t *testing.T) {
		ctb, _ := get("example.org")
		ctb.Spec.TrustBundle = pemOf(partner)
		if _, err := k.Client.CertificatesV1().ClusterTrustBundles().Update(ctx, ctb, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		changed()
		poll.Until(t, 20*time.Second, "the own ClusterTrustBundle restored", holds("example.org", authority.X509Authorities()...))
	})
}

func certificates(t *testing.T, data string) []*x509.Certificate {
	var out []*x509.Certificate
	rest := []byte(data)
	for {
		var b *pem.Block
		if b, rest = pem.Decode(rest); b == nil {
			return out
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, c)
	}
}

func pemOf(c *x509.Certificate) string {
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw}))
}
