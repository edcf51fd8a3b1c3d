// Package k8sbundle publishes the server's trust bundle (its X.509 authorities, PEM) into
// a Kubernetes ConfigMap and keeps it current, so agents in the cluster can mount it as
// trust_bundle_path and verify the server on first contact, without an insecure
// bootstrap. It plays the part of SPIRE's k8sbundle notifier.
package k8sbundle

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/spiffe/spire-api-sdk/proto/spire/api/types"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/lanyard-dev/lanyard/internal/bundleconv"
)

// Source is the server's own bundle and a signal of its changes.
type Source interface {
	Bundle(context.Context) (*types.Bundle, uint64, error)
	// Subscribe returns a channel signalled after the bundle changed, and a cancel func.
	Subscribe() (<-chan struct{}, func())
}

// Config configures a Publisher.
type Config struct {
	Kube      kubernetes.Interface
	Namespace string
	ConfigMap string
	// Key is the ConfigMap data key. Default bundle.pem.
	Key    string
	Source Source
	// Resync rewrites the ConfigMap even without a change (someone may have edited it).
	// Default 5m.
	Resync time.Duration
	Log    *slog.Logger
}

// Publisher writes the bundle into the ConfigMap.
type Publisher struct{ cfg Config }

// New checks cfg.
func New(cfg Config) (*Publisher, error) {
	if cfg.Kube == nil || cfg.Source == nil || cfg.Namespace == "" || cfg.ConfigMap == "" {
		return nil, errors.New("k8sbundle: Kube, Source, Namespace and ConfigMap are required")
	}
	if cfg.Key == "" {
		cfg.Key = "bundle.pem"
	}
	if cfg.Resync <= 0 {
		cfg.Resync = 5 * time.Minute
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	return &Publisher{cfg: cfg}, nil
}

// Run publishes at start, after every bundle change and every Resync, until ctx ends.
// Failures are logged and retried (at most every few seconds).
func (p *Publisher) Run(ctx context.Context) error {
	changed, cancel := p.cfg.Source.Subscribe()
	defer cancel()
	resync := time.NewTicker(p.cfg.Resync)
	defer resync.Stop()
	retry := time.NewTimer(0)
	defer retry.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-changed:
		case <-resync.C:
		case <-retry.C:
		}
		if err := p.publish(ctx); err != nil && ctx.Err() == nil {
			p.cfg.Log.Warn("publishing the trust bundle to Kubernetes failed; retrying", "namespace", p.cfg.Namespace,
				"config_map", p.cfg.ConfigMap, "error", err)
			retry.Reset(3 * time.Second)
		}
	}
}

func (p *Publisher) publish(ctx context.Context) error {
	b, _, err := p.cfg.Source.Bundle(ctx)
	if err != nil {
		return err
	}
	pemData := string(bundleconv.X509PEM(b))
	cms := p.cfg.Kube.CoreV1().ConfigMaps(p.cfg.Namespace)
	cm, err := cms.Get(ctx, p.cfg.ConfigMap, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		_, err = cms.Create(ctx, &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Name: p.cfg.ConfigMap, Namespace: p.cfg.Namespace},
			Data:       map[string]string{p.cfg.Key: pemData},
		}, metav1.CreateOptions{})
		if err == nil {
			p.cfg.Log.Info("published the trust bundle", "config_map", p.cfg.Namespace+"/"+p.cfg.ConfigMap)
		}
		return err
	}
	if err != nil {
		return fmt.Errorf("reading ConfigMap: %w", err)
	}
	if cm.Data[p.cfg.Key] == pemData {
		return nil
	}
	if cm.Data == nil {
		cm.Data = map[string]string{}
	}
	cm.Data[p.cfg.Key] = pemData
	if _, err := cms.Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("updating ConfigMap: %w", err)
	}
	p.cfg.Log.Info("published the trust bundle", "config_map", p.cfg.Namespace+"/"+p.cfg.ConfigMap, "authorities", len(b.X509Authorities))
	return nil
}
