package rpcserver

import (
	"net"
	"runtime"

	"google.golang.org/grpc/credentials"
)

// handshakeSlots is how many TLS handshakes the agent-facing server runs at once. After a
// restart every agent connects within about a second; run all at once, the handshakes
// share the CPU so thinly that none finishes before the agents' connect timeout, the
// agents give up and retry, and the work is wasted again and again. Run a few at a time,
// they finish in order at the rate the CPU allows, and waiting connections queue.
// Handshakes also wait on the network, so there are many more slots than cores.
func handshakeSlots() int { return max(64, 16*runtime.GOMAXPROCS(0)) }

// limitedHandshakes runs at most cap(slots) server handshakes of creds at once.
type limitedHandshakes struct {
	credentials.TransportCredentials
	slots chan struct{}
}

func limitHandshakes(creds credentials.TransportCredentials, n int) credentials.TransportCredentials {
	return limitedHandshakes{TransportCredentials: creds, slots: make(chan struct{}, n)}
}

func (l limitedHandshakes) ServerHandshake(c net.Conn) (net.Conn, credentials.AuthInfo, error) {
	l.slots <- struct{}{}
	defer func() { <-l.slots }()
	return l.TransportCredentials.ServerHandshake(c)
}

func (l limitedHandshakes) Clone() credentials.TransportCredentials {
	return limitedHandshakes{TransportCredentials: l.TransportCredentials.Clone(), slots: l.slots}
}
