package clustertrustbundle

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	certsv1 "k8s.io/api/certificates/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/clock"

	"github.com/lanyard-dev/lanyard/server/datastore"
)

// Labels on every published ClusterTrustBundle.
const (
	// LabelTrustDomain is the bundle's trust domain (absent when the name is not a valid
	// label value, e.g. longer than 63 characters).
	LabelTrustDomain = "lanyard.dev/trust-domain"
	// LabelKind is "own" for the server's trust domain, "federated" for the others.
	LabelKind = "lanyard.dev/bundle"
	// labelManagedBy marks the objects this publisher owns; it deletes no other.
	labelManagedBy = "app.kubernetes.io/managed-by"
	managedBy      = "lanyard-server"
)

// Bundles lists the stored bundles: the server's own and the federated ones.
type Bundles interface {
	ListBundles(ctx context.Context, page datastore.Page) ([]*datastore.Bundle, string, error)
}

// Changes signals bundle changes (the server's bundle source, as for k8sbundle).
type Changes interface {
	// Subscribe returns a channel signalled after any bundle changed, and a cancel func.
	Subscribe() (<-chan struct{}, func())
}

// Config configures a Publisher.
type Config struct {
	Kube        kubernetes.Interface
	TrustDomain string
	// SignerName is spec.signerName of the published objects; their names are the signer
	// name with '/' as ':', then ':' and the trust domain.
	SignerName string
	Bundles    Bundles
	Changes    Changes
	// Resync republishes even without a change (someone may have edited or deleted an
	// object). Default 5m.
	Resync time.Duration
	// Clock drives Resync and retries. Default the real clock.
	Clock clock.WithTicker
	Log   *slog.Logger
}

// Publisher keeps the ClusterTrustBundles equal to the stored bundles.
type Publisher struct{ cfg Config }

// New checks cfg.
func New(cfg Config) (*Publisher, error) {
	if cfg.Kube == nil || cfg.Bundles == nil || cfg.Changes == nil || cfg.SignerName == "" || cfg.TrustDomain == "" {
		return nil, errors.New("clustertrustbundle: Kube, TrustDomain, SignerName, Bundles and Changes are required")
	}
	if cfg.Resync <= 0 {
		cfg.Resync = 5 * time.Minute
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.RealClock{}
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	return &Publisher{cfg: cfg}, nil
}

// Run publishes at start, after every bundle change and every Resync, until ctx ends.
// Failures (a conflict with another server writing the same object among them) are
// logged and retried within seconds.
func (p *Publisher) Run(ctx context.Context) error {
	changed, cancel := p.cfg.Changes.Subscribe()
	defer cancel()
	resync := p.cfg.Clock.NewTicker(p.cfg.Resync)
	defer resync.Stop()
	retry := p.cfg.Clock.NewTimer(0)
	defer retry.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-changed:
		case <-resync.C():
		case <-retry.C():
		}
		err := p.Publish(ctx)
		switch {
		case err == nil || ctx.Err() != nil:
		case errors.Is(err, errRaced):
			p.cfg.Log.Debug("ClusterTrustBundles changed by another writer meanwhile; publishing again", "signer_name", p.cfg.SignerName)
			retry.Reset(time.Second)
		default:
			p.cfg.Log.Warn("publishing ClusterTrustBundles failed; retrying", "signer_name", p.cfg.SignerName, "error", err)
			retry.Reset(3 * time.Second)
		}
	}
}

// Name is the ClusterTrustBundle name of a trust domain's bundle for signer.
func Name(signer, trustDomain string) string {
	suffix := trustDomain
	if len(validation.IsDNS1123Subdomain(suffix)) > 0 {
		sum := sha256.Sum256([]byte(trustDomain))
		suffix = "td-" + hex.EncodeToString(sum[:10])
	}
	return strings.ReplaceAll(signer, "/", ":") + ":" + suffix
}

// errRaced: another writer (another server sharing the datastore) created or changed an
// object between our read and our write; the next pass reads its result.
var errRaced = errors.New("ClusterTrustBundles changed by another writer meanwhile")

// Publish makes the cluster's objects match the stored bundles once.
func (p *Publisher) Publish(ctx context.Context) error {
	want := map[string]*certsv1.ClusterTrustBundle{}
	for token := ""; ; {
		page, next, err := p.cfg.Bundles.ListBundles(ctx, datastore.Page{Size: 100, Token: token})
		if err != nil {
			return fmt.Errorf("listing bundles: %w", err)
		}
		for _, b := range page {
			if ctb := p.object(b); ctb != nil {
				want[ctb.Name] = ctb
			}
		}
		if token = next; token == "" {
			break
		}
	}
	api := p.cfg.Kube.CertificatesV1().ClusterTrustBundles()
	have, err := api.List(ctx, metav1.ListOptions{
		FieldSelector: fields.OneTermEqualSelector("spec.signerName", p.cfg.SignerName).String(),
		LabelSelector: labelManagedBy + "=" + managedBy,
	})
	if err != nil {
		return fmt.Errorf("listing ClusterTrustBundles: %w", err)
	}
	var errs []error
	raced := false
	for i := range have.Items {
		cur := &have.Items[i]
		w, ok := want[cur.Name]
		if !ok {
			if err := api.Delete(ctx, cur.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{ResourceVersion: &cur.ResourceVersion}}); err != nil && !apierrors.IsNotFound(err) {
				errs = append(errs, fmt.Errorf("deleting ClusterTrustBundle %s: %w", cur.Name, err))
			} else {
				p.cfg.Log.Info("removed ClusterTrustBundle", "name", cur.Name, "trust_domain", cur.Labels[LabelTrustDomain])
			}
			continue
		}
		delete(want, cur.Name)
		if cur.Spec.TrustBundle == w.Spec.TrustBundle && sameLabels(cur.Labels, w.Labels) {
			continue
		}
		upd := cur.DeepCopy()
		upd.Spec.TrustBundle, upd.Labels = w.Spec.TrustBundle, w.Labels
		if _, err := api.Update(ctx, upd, metav1.UpdateOptions{}); apierrors.IsConflict(err) {
			raced = true
			continue
		} else if err != nil {
			errs = append(errs, fmt.Errorf("updating ClusterTrustBundle %s: %w", cur.Name, err))
			continue
		}
		p.cfg.Log.Info("updated ClusterTrustBundle", "name", cur.Name, "trust_domain", w.Labels[LabelTrustDomain])
	}
	for _, w := range want {
		if _, err := api.Create(ctx, w, metav1.CreateOptions{}); apierrors.IsAlreadyExists(err) && !p.foreign(ctx, w.Name) {
			raced = true // another server created it
			continue
		} else if err != nil {
			errs = append(errs, fmt.Errorf("creating ClusterTrustBundle %s: %w", w.Name, err))
			continue
		}
		p.cfg.Log.Info("published ClusterTrustBundle", "name", w.Name, "trust_domain", w.Labels[LabelTrustDomain])
	}
	if len(errs) == 0 && raced {
		return errRaced
	}
	return errors.Join(errs...)
}

// foreign reports whether name is taken by an object this publisher does not own (made
// by hand), which it leaves alone and reports.
func (p *Publisher) foreign(ctx context.Context, name string) bool {
	cur, err := p.cfg.Kube.CertificatesV1().ClusterTrustBundles().Get(ctx, name, metav1.GetOptions{})
	return err == nil && cur.Labels[labelManagedBy] != managedBy
}

// object is the ClusterTrustBundle of one stored bundle; nil when it has no X.509
// authorities (the apiserver refuses an empty one).
func (p *Publisher) object(b *datastore.Bundle) *certsv1.ClusterTrustBundle {
	pemData := pemCertificates(b)
	if pemData == "" {
		return nil
	}
	kind := "federated"
	if b.TrustDomain == p.cfg.TrustDomain {
		kind = "own"
	}
	labels := map[string]string{LabelKind: kind, labelManagedBy: managedBy}
	if len(validation.IsValidLabelValue(b.TrustDomain)) == 0 {
		labels[LabelTrustDomain] = b.TrustDomain
	}
	return &certsv1.ClusterTrustBundle{
		ObjectMeta: metav1.ObjectMeta{Name: Name(p.cfg.SignerName, b.TrustDomain), Labels: labels},
		Spec:       certsv1.ClusterTrustBundleSpec{SignerName: p.cfg.SignerName, TrustBundle: pemData},
	}
}

func sameLabels(have, want map[string]string) bool {
	for k, v := range want {
		if have[k] != v {
			return false
		}
	}
	return true
}
