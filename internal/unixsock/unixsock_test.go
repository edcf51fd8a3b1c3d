package unixsock

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// tempDir is a short directory for sockets (t.TempDir paths can pass the 108-byte limit).
func tempDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "lsock")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to give directories to another user")
	}
}

func TestListenRefusesDirectoriesOthersCanWrite(t *testing.T) {
	needRoot(t)
	const nobody = 65534
	tests := []struct {
		name    string
		prepare func(t *testing.T, base string) (sockDir string)
		wantErr string // "" means Listen must succeed
	}{
		{"a fresh directory is created and accepted", func(t *testing.T, base string) string {
			return filepath.Join(base, "new", "sub")
		}, ""},
		{"a directory another user pre-created is refused", func(t *testing.T, base string) string {
			d := mkdir(t, base, "taken", 0o755)
			chown(t, d, nobody)
			return d
		}, "is owned by uid 65534"},
		{"a world-writable directory is refused", func(t *testing.T, base string) string {
			return mkdir(t, base, "open", 0o777)
		}, "writable by other users"},
		{"a group-writable directory is refused", func(t *testing.T, base string) string {
			return mkdir(t, base, "group", 0o775)
		}, "writable by other users"},
		{"a sticky world-writable directory is refused as the socket's own directory", func(t *testing.T, base string) string {
			return mkdir(t, base, "sticky", 0o777|os.ModeSticky)
		}, "writable by other users"},
		{"a sticky world-writable ancestor (like /tmp) is accepted", func(t *testing.T, base string) string {
			return mkdir(t, mkdir(t, base, "tmp", 0o777|os.ModeSticky), "mine", 0o755)
		}, ""},
		{"a world-writable ancestor without the sticky bit is refused", func(t *testing.T, base string) string {
			return mkdir(t, mkdir(t, base, "loose", 0o777), "mine", 0o755)
		}, "loose is writable by other users"},
		{"an ancestor owned by another user is refused", func(t *testing.T, base string) string {
			up := mkdir(t, base, "theirs", 0o755)
			chown(t, up, nobody)
			return mkdir(t, up, "mine", 0o755)
		}, "theirs is owned by uid 65534"},
		{"a symlink to a directory another user owns is refused", func(t *testing.T, base string) string {
			d := mkdir(t, base, "target", 0o755)
			chown(t, d, nobody)
			link := filepath.Join(base, "link")
			if err := os.Symlink(d, link); err != nil {
				t.Fatal(err)
			}
			return link
		}, "link is owned by uid 65534"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := tt.prepare(t, tempDir(t))
			ln, err := Listen(filepath.Join(dir, "s.sock"), 0o600)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Listen: %v", err)
				}
				ln.Close()
				return
			}
			if err == nil {
				ln.Close()
				t.Fatalf("Listen succeeded; want an error about %q", tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), "socket") {
				t.Fatalf("Listen: %v; want an error about %q", err, tt.wantErr)
			}
		})
	}
}

func TestListenReplacesOnlyStaleSockets(t *testing.T) {
	tests := []struct {
		name    string
		prepare func(t *testing.T, path string)
		wantErr string
	}{
		{"a stale socket from a previous run is replaced", func(t *testing.T, path string) {
			ln, err := net.Listen("unix", path)
			if err != nil {
				t.Fatal(err)
			}
			ln.(*net.UnixListener).SetUnlinkOnClose(false)
			ln.Close()
		}, ""},
		{"a regular file in the way is not deleted", func(t *testing.T, path string) {
			if err := os.WriteFile(path, []byte("important"), 0o600); err != nil {
				t.Fatal(err)
			}
		}, "is not a socket"},
		{"a socket someone is serving on is left alone", func(t *testing.T, path string) {
			ln, err := net.Listen("unix", path)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { ln.Close() })
		}, "another process is serving"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(tempDir(t), "s.sock")
			tt.prepare(t, path)
			ln, err := Listen(path, 0o600)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				ln.Close()
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Listen: %v; want an error about %q", err, tt.wantErr)
			}
			if _, statErr := os.Lstat(path); statErr != nil {
				t.Fatalf("the file in the way was removed: %v", statErr)
			}
		})
	}
}

func TestSocketModeIsSetBeforeAnyoneCanConnect(t *testing.T) {
	old := syscall.Umask(0) // the most permissive umask: a plain bind would make the socket 0777
	defer syscall.Umask(old)
	for _, mode := range []os.FileMode{0o600, 0o777} {
		path := filepath.Join(tempDir(t), "s.sock")
		ln, err := Listen(path, mode)
		if err != nil {
			t.Fatal(err)
		}
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != mode {
			t.Fatalf("socket mode %v, want %v", fi.Mode().Perm(), mode)
		}
		c, err := net.Dial("unix", path)
		if err != nil {
			t.Fatalf("dialing the new socket: %v", err)
		}
		c.Close()
		ln.Close()
		if _, err := os.Lstat(path); !os.IsNotExist(err) {
			t.Fatalf("Close left the socket file behind: %v", err)
		}
	}
}

func TestCloseLeavesAReplacementSocketAlone(t *testing.T) {
	path := filepath.Join(tempDir(t), "s.sock")
	ln, err := Listen(path, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	other, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	ln.Close()
	if _, err := os.Lstat(path); err != nil {
		t.Fatalf("closing the old listener removed the new socket: %v", err)
	}
}

func TestRelativePathIsRefused(t *testing.T) {
	if _, err := Listen("api.sock", 0o600); err == nil || !strings.Contains(err.Error(), "must be absolute") {
		t.Fatalf("Listen: %v", err)
	}
}

func TestDefaultPathForRootIsUnderRun(t *testing.T) {
	needRoot(t)
	if got := DefaultPath(ServerAdmin); got != "/run/lanyard/server/admin.sock" {
		t.Fatalf("DefaultPath(ServerAdmin) = %s", got)
	}
}

func mkdir(t *testing.T, parent, name string, mode os.FileMode) string {
	t.Helper()
	d := filepath.Join(parent, name)
	if err := os.Mkdir(d, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(d, mode); err != nil { // Mkdir applies the umask
		t.Fatal(err)
	}
	return d
}

func chown(t *testing.T, path string, uid int) {
	t.Helper()
	if err := os.Chown(path, uid, uid); err != nil {
		t.Fatal(err)
	}
}
