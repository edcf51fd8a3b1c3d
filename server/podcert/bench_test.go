package podcert

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	certsv1 "k8s.io/api/certificates/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
)

// BenchmarkPodCertificateIssue: b.N kubelet requests (as node-1, 16 at a time) for pods
// that exist, against a real apiserver and a signer as the server runs it (default
// workers, ClientQPS). Reports the time from a request's create call to its Issued
// status arriving on a watch (p50, p99) and the rate of issue from the first create to
// the last answer. Each run starts an apiserver, so fix N:
//
//	go test -run '^$' -bench PodCertificateIssue -benchtime 1000x ./server/podcert
func BenchmarkPodCertificateIssue(b *testing.B) {
	c := startCluster(b)
	c.k.CreateNamespace(b, "bench")
	rc := rest.CopyConfig(c.k.RESTConfig)
	rc.QPS, rc.Burst = ClientQPS, ClientBurst
	kube, err := kubernetes.NewForConfig(rc)
	if err != nil {
		b.Fatal(err)
	}
	c.runSigner(b, c.newCA(b, "s1"), func(cfg *Config) { cfg.Kube = kube })
	reqs := make([]*certsv1.PodCertificateRequest, b.N)
	for i := range reqs {
		pod := c.pod(b, "bench", fmt.Sprintf("p-%d", i), "default", "node-1", signerName, nil)
		reqs[i] = c.k.PodCertificateRequest(b, pod, signerName, ecKey(b))
		reqs[i].GenerateName, reqs[i].Name = "", pod.Name
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	// An informer, not a bare watch: it rides out the apiserver's "too large resource
	// version" while its cache of a resource nobody has written is still at 1.
	type answer struct {
		name string
		at   time.Time
	}
	answers := make(chan answer, b.N)
	factory := informers.NewSharedInformerFactoryWithOptions(c.k.Client, 0, informers.WithNamespace("bench"))
	inf := factory.Certificates().V1().PodCertificateRequests().Informer()
	report := func(obj any) {
		if pcr := obj.(*certsv1.PodCertificateRequest); answered(pcr) {
			if pcr.Status.CertificateChain == "" {
				b.Errorf("%s: %+v", pcr.Name, pcr.Status.Conditions)
			}
			select {
			case answers <- answer{pcr.Name, time.Now()}:
			case <-ctx.Done():
			}
		}
	}
	if _, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{AddFunc: report, UpdateFunc: func(_, obj any) { report(obj) }}); err != nil {
		b.Fatal(err)
	}
	factory.Start(ctx.Done())
	defer factory.Shutdown()
	cache.WaitForCacheSync(ctx.Done(), inf.HasSynced)
	node := c.k.NodeClient(b, "node-1")

	var mu sync.Mutex
	created := map[string]time.Time{}
	b.ResetTimer()
	start := time.Now()
	jobs := make(chan *certsv1.PodCertificateRequest)
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for pcr := range jobs {
				mu.Lock()
				created[pcr.Name] = time.Now()
				mu.Unlock()
				for {
					_, err := node.CertificatesV1().PodCertificateRequests("bench").Create(ctx, pcr, metav1.CreateOptions{})
					if err == nil || apierrors.IsAlreadyExists(err) { // a retried create that had gone through
						break
					}
					// NodeRestriction may not have seen the pod yet; anything else is fatal.
					if apierrors.IsForbidden(err) || apierrors.IsInvalid(err) || ctx.Err() != nil {
						b.Errorf("creating %s: %v", pcr.Name, err)
						return
					}
				}
			}
		})
	}
	go func() {
		for _, pcr := range reqs {
			jobs <- pcr
		}
		close(jobs)
	}()

	latencies := make([]time.Duration, 0, b.N)
	done := map[string]bool{}
	for len(done) < b.N {
		var a answer
		select {
		case a = <-answers:
		case <-ctx.Done():
			b.Fatalf("%d of %d requests answered in 10 minutes", len(done), b.N)
		}
		if done[a.name] {
			continue
		}
		done[a.name] = true
		mu.Lock()
		latencies = append(latencies, a.at.Sub(created[a.name]))
		mu.Unlock()
	}
	elapsed := time.Since(start)
	b.StopTimer()
	cancel()
	wg.Wait()
	slices.Sort(latencies)
	pct := func(p float64) float64 {
		return float64(latencies[int(p*float64(len(latencies)-1))].Microseconds()) / 1000
	}
	b.ReportMetric(pct(0.50), "ms-p50")
	b.ReportMetric(pct(0.99), "ms-p99")
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "issued/s")
}
