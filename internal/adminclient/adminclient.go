// Package adminclient is how the lanyard-server and lanyard-agent command lines reach
// their process's admin socket: a connection that is refused when the socket's directory
// could have been swapped by another user, and errors in words.
package adminclient

import (
	"context"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/lanyard-dev/lanyard/internal/unixsock"
)

// probeTimeout bounds the first connection attempt to the admin socket.
const probeTimeout = 5 * time.Second

// Dial connects to the admin socket of lanyard-<kind> ("server" or "agent") at socketPath.
// The socket is probed with a plain dial first so that a missing process or a permission
// problem is reported in words rather than as a gRPC Unavailable status.
func Dial(ctx context.Context, kind, socketPath string) (*grpc.ClientConn, error) {
	abs, err := filepath.Abs(socketPath)
	if err != nil {
		return nil, fmt.Errorf("-socketPath %q: %w", socketPath, err)
	}
	probeCtx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	raw, err := (&net.Dialer{}).DialContext(probeCtx, "unix", abs)
	if err != nil {
		return nil, socketError(kind, abs, err)
	}
	_ = raw.Close()
	// Whoever can write the directory could have swapped in their own server.
	if err := unixsock.CheckDir(filepath.Dir(abs)); err != nil {
		return nil, fmt.Errorf("refusing to use the admin socket %s: %w", abs, err)
	}
	// The socket is local and guarded by file permissions, so no transport security.
	conn, err := grpc.NewClient("unix://"+abs, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, fmt.Errorf("connecting to admin socket %s: %w", abs, err)
	}
	return conn, nil
}

func socketError(kind, path string, err error) error {
	program := "lanyard-" + kind
	switch {
	case errors.Is(err, syscall.EACCES), errors.Is(err, syscall.EPERM):
		return fmt.Errorf("cannot reach %s admin socket at %s: permission denied: run this command as the user that runs %s", kind, path, program)
	case errors.Is(err, syscall.ENOENT), errors.Is(err, syscall.ECONNREFUSED):
		return fmt.Errorf("cannot reach %s admin socket at %s: is %s running? (set -socketPath if it listens elsewhere)", kind, path, program)
	default:
		return fmt.Errorf("cannot reach %s admin socket at %s: %w", kind, path, err)
	}
}
