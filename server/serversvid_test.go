package server

import (
	"crypto/tls"
	"crypto/x509"
	"testing"
	"time"

	"github.com/lanyard-dev/lanyard/internal/poll"
)

// servedSVID returns the leaf certificate the server presents on its TLS port now.
func servedSVID(t *testing.T, ts *testServer) *x509.Certificate {
	t.Helper()
	conn, err := tls.Dial("tcp", ts.srv.Addr().String(), &tls.Config{
		InsecureSkipVerify: true, //nolint:gosec // only reads the certificate presented
		NextProtos:         []string{"h2"},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0]
}

func TestServerSVIDIsRenewedAtHalfLifeOnTheInjectedClock(t *testing.T) {
	ts, clk := startWithClock(t)
	first := servedSVID(t, ts)
	half := first.NotAfter.Sub(first.NotBefore) / 2
	// The renewal waits on the fake clock: no real time needs to pass.
	poll.Until(t, 10*time.Second, "the renewal timer to be armed", clk.HasWaiters)
	clk.Step(half + time.Second)
	poll.Until(t, 10*time.Second, "a renewed server SVID", func() bool {
		return servedSVID(t, ts).SerialNumber.Cmp(first.SerialNumber) != 0
	})
	if got := servedSVID(t, ts); !got.NotBefore.After(first.NotBefore) {
		t.Fatalf("renewed SVID starts %s, not after the first (%s)", got.NotBefore, first.NotBefore)
	}
}
