package rpcserver

import (
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/lanyard-dev/lanyard/internal/poll"
)

// gatedCreds records how many handshakes run at once; each waits for release.
type gatedCreds struct {
	credentials.TransportCredentials
	running, most atomic.Int32
	release       chan struct{}
}

func (g *gatedCreds) Clone() credentials.TransportCredentials { return g }

func (g *gatedCreds) ServerHandshake(c net.Conn) (net.Conn, credentials.AuthInfo, error) {
	n := g.running.Add(1)
	for m := g.most.Load(); n > m && !g.most.CompareAndSwap(m, n); m = g.most.Load() {
	}
	<-g.release
	g.running.Add(-1)
	return g.TransportCredentials.ServerHandshake(c)
}

func TestAtMostSlotsHandshakesRunAtOnceAndTheRestWaitTheirTurn(t *testing.T) {
	inner := &gatedCreds{TransportCredentials: insecure.NewCredentials(), release: make(chan struct{})}
	creds := limitHandshakes(inner, 3, time.Hour).Clone()
	var wg sync.WaitGroup
	done := atomic.Int32{}
	for range 10 {
		a, b := net.Pipe()
		t.Cleanup(func() { a.Close(); b.Close() })
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, _, err := creds.ServerHandshake(a); err == nil {
				done.Add(1)
			}
		}()
	}
	poll.Until(t, 10*time.Second, "the 3 handshake slots to fill", func() bool { return inner.running.Load() == 3 })
	close(inner.release)
	wg.Wait()
	if got := done.Load(); got != 10 {
		t.Errorf("%d of 10 handshakes completed", got)
	}
	if most := inner.most.Load(); most > 3 {
		t.Errorf("%d handshakes ran at once, want at most 3", most)
	}
}
