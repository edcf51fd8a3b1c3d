package peer

import (
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// TestHelperConnect is not a test: it is the child process of the tests below. It
// connects to the socket named in the environment and stays until stdin closes.
func TestHelperConnect(t *testing.T) {
	sock := os.Getenv("LANYARD_PEER_TEST_SOCKET")
	if sock == "" {
		t.Skip("helper process only")
	}
	c, err := net.Dial("unix", sock)
	if err != nil {
		os.Exit(2)
	}
	_, _ = io.Copy(io.Discard, os.Stdin)
	c.Close()
	os.Exit(0)
}

func listen(t *testing.T) (*net.UnixListener, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "s.sock")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln, path
}

func handshake(t *testing.T, ln *net.UnixListener) (net.Conn, *AuthInfo) {
	t.Helper()
	conn, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	wrapped, ai, err := Credentials{}.ServerHandshake(conn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { wrapped.Close() })
	return wrapped, ai.(*AuthInfo)
}

func TestHandshakeIdentifiesTheConnectingProcess(t *testing.T) {
	ln, path := listen(t)
	client, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	conn, ai := handshake(t, ln)

	if ai.PID != int32(os.Getpid()) || ai.UID != uint32(os.Getuid()) || ai.GID != uint32(os.Getgid()) {
		t.Fatalf("peer = pid %d uid %d gid %d, want this process (%d, %d, %d)",
			ai.PID, ai.UID, ai.GID, os.Getpid(), os.Getuid(), os.Getgid())
	}
	if ai.AuthType() != AuthType {
		t.Fatalf("AuthType = %q", ai.AuthType())
	}
	if err := ai.Check(); err != nil {
		t.Fatalf("Check on a live peer: %v", err)
	}
	conn.Close()
	if err := ai.Check(); err == nil {
		t.Fatal("Check succeeded after the connection closed")
	}
}

func startHelper(t *testing.T, sock string) (*exec.Cmd, io.WriteCloser) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperConnect$")
	cmd.Env = append(os.Environ(), "LANYARD_PEER_TEST_SOCKET="+sock)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stdin.Close(); _ = cmd.Wait() })
	return cmd, stdin
}

// waitExited polls Check until it reports the exit. The child is not reaped meanwhile, so
// this also shows a zombie counts as exited.
func waitExited(t *testing.T, check func() error) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := check()
		if errors.Is(err, ErrExited) {
			return
		}
		if err != nil {
			t.Fatalf("Check: %v", err)
		}
		if time.Now().After(deadline) {
			t.Fatal("Check never noticed the peer process exited")
		}
		time.Sleep(5 * time.Millisecond) // polling interval, not synchronisation
	}
}

func TestCheckFailsOnceTheConnectingProcessExits(t *testing.T) {
	ln, sock := listen(t)
	cmd, stdin := startHelper(t, sock)
	_, ai := handshake(t, ln)
	if ai.PID != int32(cmd.Process.Pid) {
		t.Fatalf("peer pid %d, want the child's %d", ai.PID, cmd.Process.Pid)
	}
	if err := ai.Check(); err != nil {
		t.Fatalf("Check while the child runs: %v", err)
	}
	// The connection stays open on our side: only the process is gone, as when a PID
	// is about to be reused by someone else.
	stdin.Close()
	waitExited(t, ai.Check)
}

func TestPidfdOpenFallbackDetectsExit(t *testing.T) {
	ln, sock := listen(t)
	cmd, stdin := startHelper(t, sock)
	if _, err := ln.Accept(); err != nil {
		t.Fatal(err)
	}
	fd, err := openPidfd(int32(cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	p := &pidfd{fd: fd}
	defer p.close()
	if err := p.alive(); err != nil {
		t.Fatalf("alive while the child runs: %v", err)
	}
	stdin.Close()
	waitExited(t, p.alive)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("helper: %v", err)
	}
	if _, err := openPidfd(int32(cmd.Process.Pid)); !errors.Is(err, ErrExited) {
		t.Fatalf("pidfd_open of a reaped process: %v, want ErrExited", err)
	}
}
