package tpmtest

import (
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-tpm/tpmutil"

	"github.com/lanyard-dev/lanyard/internal/poll"
)

// RequireEnv, set to 1, turns a missing swtpm into a test failure instead of a skip.
const RequireEnv = "LANYARD_REQUIRE_TPM"

// TPM is a running swtpm. Socket is its TPM command socket: what tpm_device_path names.
type TPM struct {
	Socket string
	Dir    string
}

// Start starts a swtpm with a fresh state that t.Cleanup stops. Without swtpm it skips
// t, or fails it when LANYARD_REQUIRE_TPM=1.
func Start(t testing.TB) *TPM {
	t.Helper()
	bin, err := exec.LookPath("swtpm")
	if err != nil {
		if os.Getenv(RequireEnv) == "1" {
			t.Fatalf("swtpm is not installed and %s=1: run e2e/tpm/install.sh", RequireEnv)
		}
		t.Skipf("swtpm is not installed; run e2e/tpm/install.sh or set %s=1 to fail", RequireEnv)
	}
	// Not t.TempDir: unix socket paths must stay under 108 bytes.
	dir, err := os.MkdirTemp("", "swtpm-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	tp := &TPM{Socket: filepath.Join(dir, "tpm.sock"), Dir: dir}
	state := filepath.Join(dir, "state")
	if err := os.Mkdir(state, 0o700); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "socket", "--tpm2",
		"--server", "type=unixio,path="+tp.Socket,
		// tpm2-tools' swtpm TCTI looks for the control socket there.
		"--ctrl", "type=unixio,path="+tp.Socket+".ctrl",
		"--flags", "not-need-init,startup-clear",
		"--tpmstate", "dir="+state)
	logf, err := os.Create(filepath.Join(dir, "swtpm.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatalf("tpmtest: starting swtpm: %v", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
		logf.Close()
	})
	poll.Until(t, 30*time.Second, "swtpm listening on "+tp.Socket, func() bool {
		select {
		case <-exited:
			b, _ := os.ReadFile(logf.Name())
			t.Fatalf("tpmtest: swtpm exited: %s", b)
		default:
		}
		c, err := net.Dial("unix", tp.Socket)
		if err != nil {
			return false
		}
		c.Close()
		return true
	})
	return tp
}

// Tool runs a tpm2-tools command (tpm2_create, ...) against the TPM in dir and returns
// its output. Without tpm2-tools it skips t, or fails it when LANYARD_REQUIRE_TPM=1.
func (tp *TPM) Tool(t testing.TB, dir, name string, args ...string) []byte {
	t.Helper()
	bin, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv(RequireEnv) == "1" {
			t.Fatalf("%s is not installed and %s=1: run e2e/tpm/install.sh", name, RequireEnv)
		}
		t.Skipf("%s is not installed; run e2e/tpm/install.sh or set %s=1 to fail", name, RequireEnv)
	}
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "TPM2TOOLS_TCTI=swtpm:path="+tp.Socket)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("tpmtest: %s %v: %v\n%s", name, args, err, out)
	}
	return out
}

// Open opens the TPM as the agent does; t.Cleanup closes it.
func (tp *TPM) Open(t testing.TB) io.ReadWriter {
	t.Helper()
	rw, err := tpmutil.OpenTPM(tp.Socket)
	if err != nil {
		t.Fatalf("tpmtest: opening %s: %v", tp.Socket, err)
	}
	// A socket TPM connects per command; closing with none open is an error.
	t.Cleanup(func() { _ = rw.Close() })
	return rw
}
