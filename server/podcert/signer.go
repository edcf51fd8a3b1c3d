package podcert

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	certsv1 "k8s.io/api/certificates/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/clock"

	"github.com/lanyard-dev/lanyard/internal/renew"
	"github.com/lanyard-dev/lanyard/server/ca"
	"github.com/lanyard-dev/lanyard/server/k8sreg"
)

// CA signs X.509-SVIDs; *ca.CA is one. It returns ca.ErrUnsupportedKeyType for keys it
// does not sign.
type CA interface {
	SignX509SVID(ctx context.Context, p ca.X509SVIDParams) ([]*x509.Certificate, error)
}

// Client-side rate limits for the signer's Kubernetes clientset (rest.Config QPS and
// Burst). Answering a request takes four or five API calls (pod, node, service account,
// maybe namespace, then the status write): client-go's default of 5 a second would hold
// the signer to about one pod a second, and a node starting its pods would wait minutes.
const (
	ClientQPS   = 200
	ClientBurst = 400
)

// Config configures a Signer. Zero values take the stated defaults.
type Config struct {
	TrustDomain spiffeid.TrustDomain
	// SignerName is the spec.signerName of the requests this signer handles. Required.
	SignerName string
	// Kube is the clientset, best made with ClientQPS and ClientBurst.
	Kube kubernetes.Interface
	// Dynamic reads IdentityTemplates; nil leaves only DefaultIDTemplate.
	Dynamic dynamic.Interface
	CA      CA
	// DefaultIDTemplate renders the SPIFFE ID of pods no opted-in template selects; ""
	// denies them.
	DefaultIDTemplate string
	// TTL is the lifetime when the template sets none. Default 1h. Lifetimes are kept
	// within [1h, spec.maxExpirationSeconds], the apiserver's bounds.
	TTL time.Duration
	// RefreshAfter is how long after notBefore the kubelet is told to begin refreshing
	// (status.beginRefreshAt). Zero: half the lifetime. Always kept within
	// [notBefore+10m, notAfter-10m], where the apiserver accepts it.
	RefreshAfter               time.Duration
	ClusterName, ClusterDomain string
	// Workers handle requests in parallel. Default 4.
	Workers int
	// Clock drives retries and condition times. Default the real clock.
	Clock clock.WithTicker
	// Metrics, when set, receives the signer's counters.
	Metrics prometheus.Registerer
	Log     *slog.Logger
}

// Signer watches the PodCertificateRequests of one signer name and answers each once.
// Several signers (one per server sharing a datastore) may run against one cluster: a
// status write carries the resourceVersion it read, so only the first answer is stored
// and the others end in a conflict, after which they see the answered request.
type Signer struct {
	cfg       Config
	def       *k8sreg.PodTemplate // nil: pods need a template
	templates *templateCache
	metrics   *metrics
	queue     workqueue.TypedDelayingInterface[string]
	pcrs      cache.Indexer

	mu      sync.Mutex
	backoff map[string]*renew.Backoff // per request key, while it is being retried
}

// New checks cfg; Run starts the signer.
func New(cfg Config) (*Signer, error) {
	if cfg.TrustDomain.IsZero() || cfg.SignerName == "" || cfg.Kube == nil || cfg.CA == nil {
		return nil, errors.New("podcert: TrustDomain, SignerName, Kube and CA are required")
	}
	if cfg.TTL <= 0 {
		cfg.TTL = time.Hour
	}
	if cfg.ClusterDomain == "" {
		cfg.ClusterDomain = "cluster.local"
	}
	if cfg.Workers <= 0 {
		cfg.Workers = 4
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.RealClock{}
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	s := &Signer{cfg: cfg, metrics: newMetrics(cfg.Metrics, cfg.SignerName), backoff: map[string]*renew.Backoff{}}
	if cfg.DefaultIDTemplate != "" {
		t, err := k8sreg.NewPodTemplate("kubernetes_pod_certificates.default_spiffe_id_template", cfg.DefaultIDTemplate)
		if err != nil {
			return nil, fmt.Errorf("podcert: %w", err)
		}
		s.def = t
	}
	return s, nil
}

// Run handles requests until ctx ends.
func (s *Signer) Run(ctx context.Context) error {
	factory := informers.NewSharedInformerFactoryWithOptions(s.cfg.Kube, 0, informers.WithTweakListOptions(func(o *metav1.ListOptions) {
		o.FieldSelector = fields.OneTermEqualSelector("spec.signerName", s.cfg.SignerName).String()
	}))
	inf := factory.Certificates().V1().PodCertificateRequests().Informer()
	s.queue = workqueue.NewTypedDelayingQueueWithConfig(workqueue.TypedDelayingQueueConfig[string]{Clock: s.cfg.Clock})
	defer s.queue.ShutDown()
	enqueue := func(obj any) {
		if key, err := cache.MetaNamespaceKeyFunc(obj); err == nil {
			s.queue.Add(key)
		}
	}
	if _, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    enqueue,
		UpdateFunc: func(_, obj any) { enqueue(obj) },
	}); err != nil {
		return fmt.Errorf("podcert: watching PodCertificateRequests: %w", err)
	}
	s.pcrs = inf.GetIndexer()
	var err error
	if s.templates, err = startTemplates(ctx, s.cfg.Dynamic, s.cfg.Log); err != nil {
		return err
	}
	factory.Start(ctx.Done())
	defer factory.Shutdown()
	if !cache.WaitForCacheSync(ctx.Done(), inf.HasSynced) || !s.templates.waitForSync(ctx) {
		return nil
	}
	s.cfg.Log.Info("pod certificate signer started", "signer_name", s.cfg.SignerName)
	var wg sync.WaitGroup
	for range s.cfg.Workers {
		wg.Go(func() {
			for s.next(ctx) {
			}
		})
	}
	<-ctx.Done()
	s.queue.ShutDown()
	wg.Wait()
	return nil
}

// next handles one queued request; false once the queue shut down.
func (s *Signer) next(ctx context.Context) bool {
	key, quit := s.queue.Get()
	if quit {
		return false
	}
	defer s.queue.Done(key)
	err := s.handle(ctx, key)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err == nil || ctx.Err() != nil {
		delete(s.backoff, key)
		return true
	}
	b := s.backoff[key]
	if b == nil {
		b = renew.NewBackoff(100*time.Millisecond, 30*time.Second)
		s.backoff[key] = b
	}
	if b.FirstFailure() {
		s.cfg.Log.Warn("answering a PodCertificateRequest failed; retrying", "request", key, "error", err)
	}
	s.queue.AddAfter(key, b.Next())
	return true
}

// handle answers one request unless it already has an answer.
func (s *Signer) handle(ctx context.Context, key string) error {
	obj, ok, err := s.pcrs.GetByKey(key)
	if err != nil || !ok {
		return err // deleted: nothing to answer
	}
	pcr := obj.(*certsv1.PodCertificateRequest)
	if answered(pcr) {
		return nil
	}
	st, err := s.decide(ctx, pcr)
	if err != nil {
		return err // transient: the apiserver could not be read
	}
	return s.write(ctx, pcr, st)
}

// answered reports whether the request carries Issued, Denied or Failed.
func answered(pcr *certsv1.PodCertificateRequest) bool {
	for _, c := range pcr.Status.Conditions {
		switch c.Type {
		case certsv1.PodCertificateRequestConditionTypeIssued, certsv1.PodCertificateRequestConditionTypeDenied,
			certsv1.PodCertificateRequestConditionTypeFailed:
			return true
		}
	}
	return false
}
