package k8stest

import "syscall"

// sysProcAttr makes the kernel kill etcd and kube-apiserver if the test binary dies
// without running its cleanups (a -timeout panic), so none outlive it.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
