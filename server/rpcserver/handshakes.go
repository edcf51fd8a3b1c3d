package rpcserver

import (
	"errors"
	"net"
	"runtime"
	"time"

	"google.golang.org/grpc/credentials"
)

// handshakeSlots is how many TLS handshakes the agent-facing server runs at once. After a
// restart every agent connects within about a second; run all at once, the handshakes
// share the CPU so thinly that none finishes before the agents' connect timeout, the
// agents give up and retry, and the work is wasted again and again. With a bound, the
// handshakes in progress finish within a few seconds and the others queue. A handshake
// also waits on its client (a round trip, a signature), so the bound is well above what
// the CPU could run at once: 512 a core is about 2 s of handshake work a core.
func handshakeSlots() int { return 512 * runtime.GOMAXPROCS(0) }

// maxHandshakeWait is how long a connection may wait for a handshake slot. Agents give a
// connection 20 s (agent/client); one that waited longer than half that is closed unserved,
// rather than spending a signature on a client that may have left, and the agent retries.
const maxHandshakeWait = 10 * time.Second

// errHandshakeQueue is the error of a connection closed after waiting maxHandshakeWait.
var errHandshakeQueue = errors.New("too many TLS handshakes queued: connect again shortly")

// limitedHandshakes runs at most cap(slots) server handshakes of creds at once.
type limitedHandshakes struct {
	credentials.TransportCredentials
	slots   chan struct{}
	maxWait time.Duration
}

func limitHandshakes(creds credentials.TransportCredentials, n int, maxWait time.Duration) credentials.TransportCredentials {
	return limitedHandshakes{TransportCredentials: creds, slots: make(chan struct{}, n), maxWait: maxWait}
}

func (l limitedHandshakes) ServerHandshake(c net.Conn) (net.Conn, credentials.AuthInfo, error) {
	timer := time.NewTimer(l.maxWait)
	defer timer.Stop()
	select {
	case l.slots <- struct{}{}:
	case <-timer.C:
		c.Close()
		return nil, nil, errHandshakeQueue
	}
	defer func() { <-l.slots }()
	return l.TransportCredentials.ServerHandshake(c)
}

func (l limitedHandshakes) Clone() credentials.TransportCredentials {
	return limitedHandshakes{TransportCredentials: l.TransportCredentials.Clone(), slots: l.slots, maxWait: l.maxWait}
}
