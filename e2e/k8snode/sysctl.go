package k8snode

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// kubeletTunables are the kernel settings a kubelet sets at start (vm.overcommit_memory=1,
// kernel.panic=10, kernel.panic_on_oops=1, ...); it has no option to leave them alone.
var kubeletTunables = []string{
	"vm/overcommit_memory", "vm/panic_on_oom", "kernel/panic", "kernel/panic_on_oops",
	"kernel/keys/root_maxkeys", "kernel/keys/root_maxbytes",
}

// sysctlState is shared by every node on the machine (tests in several packages run at
// once): the settings from before the first node, and the test processes using nodes.
const sysctlState = "/tmp/k8snode-sysctls.json"

type sysctls struct {
	Values map[string]string `json:"values"`
	PIDs   []int             `json:"pids"`
}

// holdSysctls records the kernel settings before this process's first node changes
// them, and in t.Cleanup puts them back once no live test process uses a node.
func holdSysctls(t testing.TB) {
	t.Helper()
	withSysctlState(t, func(s *sysctls) {
		if len(s.PIDs) == 0 {
			s.Values = map[string]string{}
			for _, k := range kubeletTunables {
				if v, err := os.ReadFile(filepath.Join("/proc/sys", k)); err == nil {
					s.Values[k] = strings.TrimSpace(string(v))
				}
			}
		}
		s.PIDs = append(s.PIDs, os.Getpid())
	})
	t.Cleanup(func() {
		withSysctlState(t, func(s *sysctls) {
			for i, pid := range s.PIDs {
				if pid == os.Getpid() {
					s.PIDs = append(s.PIDs[:i], s.PIDs[i+1:]...)
					break
				}
			}
			if len(s.PIDs) > 0 {
				return
			}
			for k, v := range s.Values {
				if err := os.WriteFile(filepath.Join("/proc/sys", k), []byte(v), 0o644); err != nil {
					t.Errorf("k8snode: restoring %s: %v", k, err)
				}
			}
		})
	})
}

// withSysctlState runs f on the shared state under a lock, dropping processes that
// have died (a test killed before its cleanups) first, and saves it.
func withSysctlState(t testing.TB, f func(*sysctls)) {
	t.Helper()
	lock, err := os.OpenFile(sysctlState+".lock", os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		t.Fatalf("k8snode: %v", err)
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatalf("k8snode: locking %s: %v", lock.Name(), err)
	}
	var s sysctls
	if b, err := os.ReadFile(sysctlState); err == nil {
		_ = json.Unmarshal(b, &s)
	} else if !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("k8snode: %v", err)
	}
	live := s.PIDs[:0]
	for _, pid := range s.PIDs {
		if _, err := os.Stat("/proc/" + strconv.Itoa(pid)); err == nil {
			live = append(live, pid)
		}
	}
	s.PIDs = live
	f(&s)
	b, _ := json.Marshal(s)
	if err := os.WriteFile(sysctlState, b, 0o600); err != nil {
		t.Fatalf("k8snode: %v", err)
	}
}
