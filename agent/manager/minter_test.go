package manager

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"fmt"
	"log/slog"
	"math/big"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	svidv1 "github.com/spiffe/spire-api-sdk/proto/spire/api/server/svid/v1"
	"github.com/spiffe/spire-api-sdk/proto/spire/api/types"
	"google.golang.org/grpc"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/lanyard-dev/lanyard/agent/cache"
	"github.com/lanyard-dev/lanyard/agent/client"
	"github.com/lanyard-dev/lanyard/attestors"
	"github.com/lanyard-dev/lanyard/internal/poll"
	"github.com/lanyard-dev/lanyard/internal/testca"
)

// signingServer signs every CSR of a batch with a test CA.
type signingServer struct {
	svidv1.UnimplementedSVIDServer
	sign func(tmpl *x509.Certificate, pub any) ([]byte, error)
}

func (s *signingServer) BatchNewX509SVID(_ context.Context, req *svidv1.BatchNewX509SVIDRequest) (*svidv1.BatchNewX509SVIDResponse, error) {
	resp := &svidv1.BatchNewX509SVIDResponse{}
	for _, p := range req.Params {
		csr, err := x509.ParseCertificateRequest(p.Csr)
		if err != nil {
			return nil, err
		}
		serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
		der, err := s.sign(&x509.Certificate{SerialNumber: serial, URIs: csr.URIs,
			NotBefore: time.Now().Add(-time.Minute), NotAfter: time.Now().Add(time.Hour)}, csr.PublicKey)
		if err != nil {
			return nil, err
		}
		resp.Results = append(resp.Results, &svidv1.BatchNewX509SVIDResponse_Result{
			Status: &types.Status{}, Svid: &types.X509SVID{CertChain: [][]byte{der}}})
	}
	return resp, nil
}

// recordingCache is a cache that records the size of every update the minter hands over.
type recordingCache struct {
	*cache.Cache
	mu    sync.Mutex
	sizes []int
}

func (c *recordingCache) UpdateSVIDs(s []*cache.X509SVID) {
	c.mu.Lock()
	c.sizes = append(c.sizes, len(s))
	c.mu.Unlock()
	c.Cache.UpdateSVIDs(s)
}

func (c *recordingCache) got() []int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]int(nil), c.sizes...)
}

// A burst of mints spanning several batches reaches the cache as one update (each update
// makes the Workload API resend all of a workload's SVIDs); a single entry still goes at once.
func TestMinterHandsABurstToTheCacheAtOnce(t *testing.T) {
	ca, caKey := testca.New(t, "ca", nil, nil, time.Now().Add(time.Hour))
	srv := &signingServer{sign: func(tmpl *x509.Certificate, pub any) ([]byte, error) {
		return x509.CreateCertificate(rand.Reader, tmpl, ca, pub, caKey)
	}}
	conn := serveUnix(t, func(g *grpc.Server) { svidv1.RegisterSVIDServer(g, srv) })
	c := &client.Client{SVID: svidv1.NewSVIDClient(conn)}
	rec := &recordingCache{Cache: cache.New(spiffeid.RequireTrustDomainFromString("example.org"), nil, nil)}
	m := newMinter(func() *client.Client { return c }, slog.New(slog.DiscardHandler), rec, clocktesting.NewFakeClock(time.Now()))

	entries := func(prefix string, n int) []*cache.Entry {
		out := make([]*cache.Entry, n)
		for i := range out {
			u := url.URL{Scheme: "spiffe", Host: "example.org", Path: fmt.Sprintf("/%s/%d", prefix, i)}
			out[i] = &cache.Entry{ID: fmt.Sprintf("%s-%d", prefix, i), SPIFFEID: u.String(),
				Selectors: []attestors.Selector{{Type: "unix", Value: "uid:1"}}}
		}
		return out
	}
	burst := 2*mintBatch + 200
	rec.UpdateEntries(entries("burst", burst), nil, false)
	m.wake()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.run(ctx) }()
	defer func() { cancel(); <-done }()
	poll.Until(t, 30*time.Second, "the burst to reach the cache", func() bool { return len(rec.got()) > 0 })
	if got := rec.got(); len(got) != 1 || got[0] != burst {
		t.Fatalf("the cache got updates of %v SVIDs, want one of %d", got, burst)
	}
	rec.UpdateEntries(entries("single", 1), nil, false)
	m.wake()
	poll.Until(t, 30*time.Second, "a single new SVID to reach the cache", func() bool { return len(rec.got()) == 2 })
	if got := rec.got(); got[1] != 1 {
		t.Fatalf("the single mint reached the cache as an update of %d", got[1])
	}
}
