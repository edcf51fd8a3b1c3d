package k8stest

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/types"
)

// CgroupRoots finds where kubepods-style cgroups can be made on this host: v1 is the
// cgroup v1 pids hierarchy ("" if none), v2 the cgroup v2 one (the unified mount of a
// hybrid host or the root of a unified host; "" if none). Real processes moved there
// show the paths a kubelet would create in /proc/PID/cgroup.
func CgroupRoots() (v1, v2 string) {
	if exists("/sys/fs/cgroup/pids/tasks") {
		v1 = "/sys/fs/cgroup/pids"
	}
	switch {
	case exists("/sys/fs/cgroup/unified/cgroup.procs"):
		v2 = "/sys/fs/cgroup/unified"
	case exists("/sys/fs/cgroup/cgroup.controllers"):
		v2 = "/sys/fs/cgroup"
	}
	return v1, v2
}

// CgroupfsPath is the cgroup of a container under the kubelet's cgroupfs driver.
func CgroupfsPath(root string, podUID types.UID, containerID string) string {
	return filepath.Join(root, "kubepods", "besteffort", "pod"+string(podUID), containerID)
}

// SystemdPath is the cgroup of a containerd container under the systemd driver.
func SystemdPath(root string, podUID types.UID, containerID string) string {
	u := strings.ReplaceAll(string(podUID), "-", "_")
	return filepath.Join(root, "kubepods.slice", "kubepods-besteffort.slice",
		"kubepods-besteffort-pod"+u+".slice", "cri-containerd-"+containerID+".scope")
}

// CgroupPair returns cgroups for two containers in two of the kubelet's layouts where
// the host allows: cgroupfs under cgroup v1 for the first and systemd under cgroup v2
// for the second; both cgroupfs on a v1-only host; cgroupfs and systemd, both under
// v2, on a unified host. ok is false when the host has no usable hierarchy.
func CgroupPair(uid1 types.UID, id1 string, uid2 types.UID, id2 string) (first, second string, ok bool) {
	v1, v2 := CgroupRoots()
	switch {
	case v1 != "" && v2 != "":
		return CgroupfsPath(v1, uid1, id1), SystemdPath(v2, uid2, id2), true
	case v1 != "":
		return CgroupfsPath(v1, uid1, id1), CgroupfsPath(v1, uid2, id2), true
	case v2 != "":
		return CgroupfsPath(v2, uid1, id1), SystemdPath(v2, uid2, id2), true
	}
	return "", "", false
}

// MakeCgroup creates cgroup dir and its missing parents, and removes those again,
// deepest first, in t.Cleanup. Processes moved into it must have exited by then:
// start them after MakeCgroup so their own cleanups run first. It skips t when not
// root or when the hierarchy is not writable.
func MakeCgroup(t testing.TB, dir string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("k8stest: creating cgroups needs root")
	}
	var missing []string // outermost first
	for d := dir; !exists(d); d = filepath.Dir(d) {
		missing = append([]string{d}, missing...)
	}
	var made []string
	t.Cleanup(func() {
		for i := len(made) - 1; i >= 0; i-- {
			if err := os.Remove(made[i]); err != nil {
				t.Errorf("k8stest: removing cgroup %s: %v", made[i], err)
			}
		}
	})
	for _, d := range missing {
		if err := os.Mkdir(d, 0o755); err != nil {
			if errors.Is(err, os.ErrPermission) || strings.Contains(err.Error(), "read-only") {
				t.Skipf("k8stest: cannot create cgroups here: %v", err)
			}
			t.Fatalf("k8stest: %v", err)
		}
		made = append(made, d)
	}
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
