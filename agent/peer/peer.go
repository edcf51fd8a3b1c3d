package peer

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
	"google.golang.org/grpc/credentials"
	grpcpeer "google.golang.org/grpc/peer"
)

// AuthType is the value AuthInfo.AuthType returns.
const AuthType = "unix-peercred"

// ErrExited is returned by AuthInfo.Check when the peer process has exited, meaning its
// PID may now name an unrelated process.
var ErrExited = errors.New("peer process exited")

// AuthInfo describes the process that opened a connection, as the kernel saw it at
// connect time.
type AuthInfo struct {
	credentials.CommonAuthInfo
	PID int32
	UID uint32
	GID uint32

	pidfd *pidfd
}

// AuthType implements credentials.AuthInfo.
func (*AuthInfo) AuthType() string { return AuthType }

// Check reports whether the process that opened the connection is still running. Call
// it after attesting PID: if it succeeds, the attested process was the peer, not a
// newcomer that reused the PID after the peer exited.
func (a *AuthInfo) Check() error {
	if a.pidfd == nil {
		return errors.New("peer process unknown: AuthInfo was not made by ServerHandshake")
	}
	return a.pidfd.alive()
}

// FromContext returns the peer AuthInfo of a gRPC call served with Credentials.
func FromContext(ctx context.Context) (*AuthInfo, bool) {
	p, ok := grpcpeer.FromContext(ctx)
	if !ok {
		return nil, false
	}
	ai, ok := p.AuthInfo.(*AuthInfo)
	return ai, ok
}

// Credentials are server-side transport credentials for unix socket listeners. They
// add no encryption (the socket is local); they only identify the peer.
type Credentials struct{}

// NewCredentials returns the peer credentials for a grpc.Server (grpc.Creds).
func NewCredentials() credentials.TransportCredentials { return Credentials{} }

var _ credentials.TransportCredentials = Credentials{}

// ServerHandshake reads the peer's credentials and pins its process with a pidfd.
func (Credentials) ServerHandshake(conn net.Conn) (net.Conn, credentials.AuthInfo, error) {
	sc, ok := conn.(syscall.Conn)
	if !ok {
		return nil, nil, fmt.Errorf("peer credentials: connection is %T, not a unix socket", conn)
	}
	cred, err := readCred(sc)
	if err != nil {
		return nil, nil, err
	}
	fd, fdErr := peerPidfd(sc)
	if cred.Pid <= 0 {
		if fdErr == nil {
			unix.Close(fd)
		}
		return nil, nil, errors.New("peer credentials: the caller's process is not visible in the agent's PID namespace; run the agent with the host PID namespace")
	}
	if fdErr != nil {
		// Older kernels: open the pidfd now. A PID reused in the instant since accept
		// would go unnoticed; SO_PEERPIDFD closes that window.
		if fd, fdErr = openPidfd(cred.Pid); fdErr != nil {
			return nil, nil, fmt.Errorf("peer credentials: %w", fdErr)
		}
	}
	pf := &pidfd{fd: fd}
	info := &AuthInfo{
		CommonAuthInfo: credentials.CommonAuthInfo{SecurityLevel: credentials.NoSecurity},
		PID:            cred.Pid, UID: cred.Uid, GID: cred.Gid,
		pidfd: pf,
	}
	return &connWithPidfd{Conn: conn, pidfd: pf}, info, nil
}

// ClientHandshake is not supported: these credentials only serve.
func (Credentials) ClientHandshake(context.Context, string, net.Conn) (net.Conn, credentials.AuthInfo, error) {
	return nil, nil, errors.New("peer credentials are for servers only; clients use insecure credentials on the unix socket")
}

// Info implements credentials.TransportCredentials.
func (Credentials) Info() credentials.ProtocolInfo {
	return credentials.ProtocolInfo{SecurityProtocol: AuthType}
}

// Clone implements credentials.TransportCredentials.
func (c Credentials) Clone() credentials.TransportCredentials { return c }

// OverrideServerName implements credentials.TransportCredentials (deprecated in gRPC).
func (Credentials) OverrideServerName(string) error { return nil }

type ucred = unix.Ucred

// readCred returns the credentials (SO_PEERCRED) of the process that connected.
func readCred(c syscall.Conn) (*ucred, error) {
	raw, err := c.SyscallConn()
	if err != nil {
		return nil, fmt.Errorf("peer credentials: %w", err)
	}
	var cred *ucred
	var credErr error
	if err := raw.Control(func(s uintptr) {
		cred, credErr = unix.GetsockoptUcred(int(s), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		credErr = err
	}
	if credErr != nil {
		return nil, fmt.Errorf("peer credentials: reading SO_PEERCRED: %w", credErr)
	}
	return cred, nil
}

// peerPidfd returns a pidfd of the process that connected (SO_PEERPIDFD, Linux 6.5),
// which names that very process with no race.
func peerPidfd(c syscall.Conn) (int, error) {
	raw, err := c.SyscallConn()
	if err != nil {
		return -1, err
	}
	var fd int
	var sockErr error
	if err := raw.Control(func(s uintptr) {
		fd, sockErr = unix.GetsockoptInt(int(s), unix.SOL_SOCKET, unix.SO_PEERPIDFD)
	}); err != nil {
		return -1, err
	}
	return fd, sockErr
}

func openPidfd(pid int32) (int, error) {
	fd, err := unix.PidfdOpen(int(pid), 0)
	if errors.Is(err, syscall.ESRCH) {
		return -1, fmt.Errorf("process %d: %w", pid, ErrExited)
	}
	if err != nil {
		return -1, fmt.Errorf("pidfd_open(%d): %w", pid, err)
	}
	return fd, nil
}

// connWithPidfd releases the pidfd with the connection.
type connWithPidfd struct {
	net.Conn
	pidfd *pidfd
}

func (c *connWithPidfd) Close() error {
	err := c.Conn.Close()
	c.pidfd.close()
	return err
}

// pidfd is a process file descriptor shared by a connection and its AuthInfo. The
// lock keeps a Check from racing the close (and so from probing a recycled fd number).
type pidfd struct {
	mu     sync.RWMutex
	fd     int
	closed bool
}

func (p *pidfd) alive() error {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.closed {
		return errors.New("peer connection closed")
	}
	// A pidfd polls readable once the process has exited, zombie or not. (Signal 0
	// would still reach a zombie, and fails with EPERM across users.)
	fds := []unix.PollFd{{Fd: int32(p.fd), Events: unix.POLLIN}}
	for {
		n, err := unix.Poll(fds, 0)
		switch {
		case errors.Is(err, syscall.EINTR):
			continue
		case err != nil:
			return fmt.Errorf("checking peer process: %w", err)
		case n > 0:
			return ErrExited
		}
		return nil
	}
}

func (p *pidfd) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.closed {
		p.closed = true
		unix.Close(p.fd)
	}
}
