package unixsock

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"

	"golang.org/x/sys/unix"
)

// SystemDir is where sockets live by default when this process may create them there.
const SystemDir = "/run/lanyard"

// Relative paths of the default sockets under the runtime directory.
const (
	ServerAdmin = "server/admin.sock"
	AgentAPI    = "sockets/api.sock" // the path deploy/agent.yaml uses on the host
)

// DefaultPath returns the default path of the socket rel (ServerAdmin or AgentAPI):
// under /run/lanyard when this process can write there (root, or a service user owning
// /run/lanyard), else under $XDG_RUNTIME_DIR/lanyard (a normal user's login session),
// else under /tmp/lanyard-<uid>, which Listen refuses if another user created it.
// Servers and the CLI of the same user and session compute the same path.
func DefaultPath(rel string) string {
	return filepath.Join(runtimeDir(), rel)
}

// ClientPath is the default path for a client (a CLI) of the socket rel: the socket
// under /run/lanyard when there is one there, as for a workload of any uid talking to an
// agent run by root, else DefaultPath(rel).
func ClientPath(rel string) string {
	if p := filepath.Join(SystemDir, rel); isSocket(p) {
		return p
	}
	return DefaultPath(rel)
}

func isSocket(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().Type() == fs.ModeSocket
}

func runtimeDir() string {
	if writable(SystemDir) {
		return SystemDir
	}
	if _, err := os.Stat(SystemDir); errors.Is(err, fs.ErrNotExist) && writable(filepath.Dir(SystemDir)) {
		return SystemDir
	}
	if x := os.Getenv("XDG_RUNTIME_DIR"); filepath.IsAbs(x) {
		return filepath.Join(x, "lanyard")
	}
	return filepath.Join(os.TempDir(), "lanyard-"+strconv.Itoa(os.Geteuid()))
}

func writable(dir string) bool {
	return unix.Access(dir, unix.W_OK|unix.X_OK) == nil
}
