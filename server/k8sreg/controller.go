package k8sreg

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	entryv1 "github.com/spiffe/spire-api-sdk/proto/spire/api/server/entry/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
)

// EntryAPI is the part of the server's entry service the controller writes through, in
// process, so its writes are validated and pushed to agents like any other.
type EntryAPI interface {
	ListEntries(context.Context, *entryv1.ListEntriesRequest) (*entryv1.ListEntriesResponse, error)
	BatchCreateEntry(context.Context, *entryv1.BatchCreateEntryRequest) (*entryv1.BatchCreateEntryResponse, error)
	BatchUpdateEntry(context.Context, *entryv1.BatchUpdateEntryRequest) (*entryv1.BatchUpdateEntryResponse, error)
	BatchDeleteEntry(context.Context, *entryv1.BatchDeleteEntryRequest) (*entryv1.BatchDeleteEntryResponse, error)
}

// Config configures a Controller.
type Config struct {
	TrustDomain spiffeid.TrustDomain
	// Cluster is the k8s_psat cluster name the cluster's agents attest with; it is part
	// of every parent ID (spiffe://TD/spire/agent/k8s_psat/<cluster>/<node-uid>).
	Cluster string
	// ClusterDomain is offered to templates as .ClusterDomain. Default "cluster.local".
	ClusterDomain string
	Kube          kubernetes.Interface
	Dynamic       dynamic.Interface
	Entries       EntryAPI
	// Resync is how often everything is reconciled even without events. Default 1m.
	Resync time.Duration
	// Settle is how long to gather further events before reconciling. Default 100ms.
	Settle time.Duration
	Log    *slog.Logger
}

// Controller keeps one entry per (IdentityTemplate, matching pod) in the datastore.
// Running several (one per server) is safe: entry IDs are derived from the template and
// pod, so the servers converge on the same entries.
type Controller struct {
	cfg  Config
	kick chan struct{}

	pods       cache.Indexer
	nodes      cache.Indexer
	namespaces cache.Indexer
	templates  cache.Indexer
}

// New checks cfg and returns a controller; Run starts it.
func New(cfg Config) (*Controller, error) {
	if cfg.Cluster == "" {
		return nil, errors.New("k8sreg: cluster is required (the k8s_psat cluster name of this cluster's agents)")
	}
	if cfg.Kube == nil || cfg.Dynamic == nil || cfg.Entries == nil {
		return nil, errors.New("k8sreg: Kube, Dynamic and Entries are required")
	}
	if cfg.ClusterDomain == "" {
		cfg.ClusterDomain = "cluster.local"
	}
	if cfg.Resync <= 0 {
		cfg.Resync = time.Minute
	}
	if cfg.Settle <= 0 {
		cfg.Settle = 100 * time.Millisecond
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	return &Controller{cfg: cfg, kick: make(chan struct{}, 1)}, nil
}

// Run watches pods, nodes, namespaces and IdentityTemplates until ctx ends.
func (c *Controller) Run(ctx context.Context) error {
	factory := informers.NewSharedInformerFactory(c.cfg.Kube, 0)
	dyn := dynamicinformer.NewDynamicSharedInformerFactory(c.cfg.Dynamic, 0)
	informers := []cache.SharedIndexInformer{
		factory.Core().V1().Pods().Informer(),
		factory.Core().V1().Nodes().Informer(),
		factory.Core().V1().Namespaces().Informer(),
		dyn.ForResource(GVR).Informer(),
	}
	for _, inf := range informers {
		if _, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
			AddFunc:    func(any) { c.trigger() },
			UpdateFunc: func(any, any) { c.trigger() },
			DeleteFunc: func(any) { c.trigger() },
		}); err != nil {
			return fmt.Errorf("k8sreg: watching: %w", err)
		}
	}
	c.pods, c.nodes, c.namespaces, c.templates = informers[0].GetIndexer(), informers[1].GetIndexer(), informers[2].GetIndexer(), informers[3].GetIndexer()
	factory.Start(ctx.Done())
	dyn.Start(ctx.Done())
	defer factory.Shutdown()
	defer dyn.Shutdown()
	for _, inf := range informers {
		if !cache.WaitForCacheSync(ctx.Done(), inf.HasSynced) {
			return ctx.Err()
		}
	}
	c.cfg.Log.Info("kubernetes registration started", "cluster", c.cfg.Cluster)

	resync := time.NewTicker(c.cfg.Resync)
	defer resync.Stop()
	c.trigger()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-resync.C:
		case <-c.kick:
			// Let a burst (a Deployment scaling up) land before looking.
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(c.cfg.Settle):
			}
		}
		// Drain a kick that arrived meanwhile: this pass sees its change.
		select {
		case <-c.kick:
		default:
		}
		if err := c.reconcile(ctx); err != nil && ctx.Err() == nil {
			c.cfg.Log.Warn("kubernetes registration pass failed; retrying at the next event or resync", "error", err)
		}
	}
}

func (c *Controller) trigger() {
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

// reconcile computes the entries every template wants and makes the datastore match.
func (c *Controller) reconcile(ctx context.Context) error {
	desired := map[string]*desiredEntry{}
	stats := map[string]*templateStats{}
	var objs []*unstructured.Unstructured
	for _, o := range c.templates.List() {
		u, ok := o.(*unstructured.Unstructured)
		if !ok {
			continue
		}
		objs = append(objs, u)
		st := &templateStats{}
		stats[u.GetName()] = st
		comp, err := compile(u)
		if err != nil {
			st.Error = err.Error()
			continue
		}
		c.render(comp, st, desired)
	}
	existing, err := c.listOwned(ctx)
	if err != nil {
		return err
	}
	failed, err := c.apply(ctx, desired, existing)
	for id := range failed {
		if d, ok := desired[id]; ok {
			stats[d.template].EntryFailures++
		}
	}
	for _, u := range objs {
		c.writeStatus(ctx, u, stats[u.GetName()])
	}
	return err
}

// render adds the entries of one template to desired.
func (c *Controller) render(comp *compiled, st *templateStats, desired map[string]*desiredEntry) {
	var nsOK map[string]bool
	if !comp.nsSel.Empty() {
		nsOK = map[string]bool{}
		for _, o := range c.namespaces.List() {
			ns := o.(*corev1.Namespace)
			if comp.nsSel.Matches(labels.Set(ns.Labels)) {
				nsOK[ns.Name] = true
			}
		}
	}
	for _, o := range c.pods.List() {
		pod := o.(*corev1.Pod)
		if (nsOK != nil && !nsOK[pod.Namespace]) || !comp.podSel.Matches(labels.Set(pod.Labels)) {
			continue
		}
		// A pod gets an identity once it is placed on a node, until it stops for good.
		if pod.Spec.NodeName == "" || pod.DeletionTimestamp != nil ||
			pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
			continue
		}
		st.PodsSelected++
		o, ok, _ := c.nodes.GetByKey(pod.Spec.NodeName)
		if !ok {
			continue // the node object appears shortly; its event brings us back
		}
		e, err := comp.entryFor(c.cfg.TrustDomain, c.cfg.Cluster, c.cfg.ClusterDomain, pod, o.(*corev1.Node))
		if err != nil {
			st.RenderFailures++
			st.Error = fmt.Sprintf("pod %s/%s: %v", pod.Namespace, pod.Name, err)
			continue
		}
		desired[e.Id] = &desiredEntry{entry: e, template: comp.name}
		st.Entries++
	}
}
