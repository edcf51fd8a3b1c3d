// Package testproc runs a test binary's helper test as a child process under another
// uid, for tests that need real processes with real, different credentials.
package testproc

import (
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
)

// AsUser returns a command running this test binary's test named run (a -test.run
// pattern) as uid and gid, with env added to this process's environment. The binary is
// copied where that uid may execute it: go test builds it in a directory only the
// caller can enter. The caller must be root (or the test is skipped).
func AsUser(t testing.TB, uid int, run string, env ...string) *exec.Cmd {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to run a helper process as another uid")
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "testproc")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, filepath.Base(self))
	if err := os.WriteFile(bin, data, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-test.run="+run)
	cmd.Env = append(os.Environ(), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(uid)}}
	return cmd
}
