package unixsock

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Listen listens on a unix socket at the absolute path with the given file mode (0600:
// only this user may connect; 0777: every local process may). It creates the directory
// (0755) if needed and refuses one CheckDir finds unsafe. A stale socket left by a
// previous run is replaced; a socket someone is serving on, or any other file, is an
// error. Closing the listener removes the socket.
func Listen(path string, mode fs.FileMode) (net.Listener, error) {
	if path == "" || !filepath.IsAbs(path) {
		return nil, fmt.Errorf("socket path %q must be absolute", path)
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("creating socket directory: %w", err)
	}
	if err := CheckDir(dir); err != nil {
		return nil, err
	}
	if err := removeStale(path); err != nil {
		return nil, err
	}
	ln, err := bind(path, mode)
	if err != nil {
		return nil, fmt.Errorf("listening on %s: %w", path, err)
	}
	// bind applied the umask; widen back to mode (e.g. 0777 for the Workload API).
	if err := os.Chmod(path, mode); err != nil {
		ln.Close()
		return nil, fmt.Errorf("setting mode %v on %s: %w", mode, path, err)
	}
	return ln, nil
}

// bind creates the socket with mode already on its inode, so that no one can connect in
// the moment before a chmod (Linux takes a socket file's mode from its inode, less the
// umask).
func bind(path string, mode fs.FileMode) (*listener, error) {
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("socket: %w", err)
	}
	f := os.NewFile(uintptr(fd), path)
	defer f.Close() // net.FileListener holds its own copy
	if err := unix.Fchmod(fd, uint32(mode.Perm())); err != nil {
		return nil, fmt.Errorf("fchmod: %w", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrUnix{Name: path}); err != nil {
		return nil, fmt.Errorf("bind: %w", err)
	}
	var fi os.FileInfo
	if fi, err = os.Lstat(path); err == nil {
		err = unix.Listen(fd, unix.SOMAXCONN)
	}
	var nl net.Listener
	if err == nil {
		nl, err = net.FileListener(f)
	}
	if err != nil {
		os.Remove(path)
		return nil, err
	}
	return &listener{UnixListener: nl.(*net.UnixListener), path: path, fi: fi}, nil
}

// listener removes its socket file on Close, unless another has replaced it.
type listener struct {
	*net.UnixListener
	path string
	fi   os.FileInfo
	once sync.Once
}

func (l *listener) Close() error {
	err := l.UnixListener.Close()
	l.once.Do(func() {
		if fi, statErr := os.Lstat(l.path); statErr == nil && os.SameFile(fi, l.fi) {
			os.Remove(l.path)
		}
	})
	return err
}

func removeStale(path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("checking %s: %w", path, err)
	}
	if fi.Mode().Type() != fs.ModeSocket {
		return fmt.Errorf("%s exists and is not a socket; remove it or choose another socket path", path)
	}
	if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
		c.Close()
		return fmt.Errorf("another process is serving on %s; stop it or choose another socket path", path)
	} else if errors.Is(err, syscall.EACCES) {
		return fmt.Errorf("%s belongs to another user's process; stop it or choose another socket path", path)
	}
	if err := os.Remove(path); err != nil {
		return fmt.Errorf("removing stale socket %s: %w", path, err)
	}
	return nil
}
