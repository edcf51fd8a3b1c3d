package server

import (
	"testing"
	"time"

	"github.com/lanyard-dev/lanyard/internal/poll"
)

func TestServerSVIDIsRenewedAtHalfLifeOnTheInjectedClock(t *testing.T) {
	ts, clk := startWithClock(t)
	first := ts.srv.tls.cert.Load().Leaf
	half := first.NotAfter.Sub(first.NotBefore) / 2
	// The renewal waits on the fake clock: no real time needs to pass.
	poll.Until(t, 10*time.Second, "the renewal timer to be armed", clk.HasWaiters)
	clk.Step(half + time.Second)
	poll.Until(t, 10*time.Second, "a renewed server SVID", func() bool {
		return ts.srv.tls.cert.Load().Leaf.SerialNumber.Cmp(first.SerialNumber) != 0
	})
	if got := ts.srv.tls.cert.Load().Leaf; !got.NotBefore.After(first.NotBefore) {
		t.Fatalf("renewed SVID starts %s, not after the first (%s)", got.NotBefore, first.NotBefore)
	}
}
