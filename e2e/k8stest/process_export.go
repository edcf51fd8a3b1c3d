package k8stest

import (
	"testing"
	"time"
)

// Process is a child program started by StartProcess, for harnesses built on this one
// (e2e/k8snode runs containerd and the node's components the way etcd and
// kube-apiserver run here).
type Process struct{ p *process }

// StartProcess runs bin with args in dir, its output in dir/name.log, and stops it
// (interrupt, then kill after 10 s) in t.Cleanup. The kernel kills it if the test
// binary dies first.
func StartProcess(t testing.TB, dir, name, bin string, args ...string) *Process {
	t.Helper()
	return &Process{startProcess(t, dir, name, bin, args...)}
}

// WaitReady polls ready until it succeeds, failing t when the process exits or timeout
// passes, with the tail of its log.
func (p *Process) WaitReady(t testing.TB, timeout time.Duration, ready func() error) {
	t.Helper()
	waitReady(t, p.p, timeout, ready)
}

// Stop stops the process now (it is also stopped at cleanup).
func (p *Process) Stop() { p.p.stop() }

// Tail is the end of the process's log.
func (p *Process) Tail() string { return p.p.tail() }

// Exited reports whether the process has ended.
func (p *Process) Exited() bool {
	select {
	case <-p.p.done:
		return true
	default:
		return false
	}
}
