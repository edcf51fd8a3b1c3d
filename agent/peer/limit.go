package peer

import (
	"net"
	"sync"
)

// Reasons a connection is refused at accept, the values Limits.Refused receives.
const (
	RefusedPerUID  = "per_uid_limit"
	RefusedTotal   = "total_limit"
	RefusedNoCreds = "no_peer_credentials"
)

// Limits caps the connections a listener holds open.
type Limits struct {
	// PerUID is the most connections one uid may hold; 0 means no cap.
	PerUID int
	// Total is the most connections all callers together may hold; 0 means no cap.
	Total int
	// Refused, when set, is called with the reason of every connection closed at accept.
	Refused func(reason string)
	// Open, when set, is called with +1 for every connection admitted and -1 when it closes.
	Open func(delta int)
}

// LimitListener holds ln (a unix socket listener) to lim: a connection over a limit is
// closed as soon as it is accepted, before anything is read from it, so one local user
// cannot exhaust the process's file descriptors. The uid is the one SO_PEERCRED reports.
// Admitted connections still carry their credentials for ServerHandshake.
func LimitListener(ln net.Listener, lim Limits) net.Listener {
	return &limitListener{Listener: ln, lim: lim, perUID: map[uint32]int{}}
}

type limitListener struct {
	net.Listener
	lim Limits

	mu     sync.Mutex
	total  int
	perUID map[uint32]int
}

func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		uc, ok := c.(*net.UnixConn)
		var uid uint32
		if ok {
			var cred *ucred
			cred, err = readCred(uc)
			if cred != nil {
				uid = cred.Uid
			}
		}
		reason := RefusedNoCreds
		if ok && err == nil {
			reason = l.admit(uid)
		}
		if reason != "" {
			if l.lim.Refused != nil {
				l.lim.Refused(reason) // counted before the caller can see the close
			}
			c.Close()
			continue
		}
		if l.lim.Open != nil {
			l.lim.Open(1)
		}
		return &limitedConn{UnixConn: uc, release: func() { l.release(uid) }}, nil
	}
}

// admit counts a connection of uid in, or returns why it may not be.
func (l *limitListener) admit(uid uint32) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.lim.Total > 0 && l.total >= l.lim.Total {
		return RefusedTotal
	}
	if l.lim.PerUID > 0 && l.perUID[uid] >= l.lim.PerUID {
		return RefusedPerUID
	}
	l.total++
	l.perUID[uid]++
	return ""
}

func (l *limitListener) release(uid uint32) {
	l.mu.Lock()
	l.total--
	if l.perUID[uid]--; l.perUID[uid] == 0 {
		delete(l.perUID, uid)
	}
	l.mu.Unlock()
	if l.lim.Open != nil {
		l.lim.Open(-1)
	}
}

// limitedConn gives its place back once, when closed.
type limitedConn struct {
	*net.UnixConn
	once    sync.Once
	release func()
}

func (c *limitedConn) Close() error {
	err := c.UnixConn.Close()
	c.once.Do(c.release)
	return err
}
