package k8snode

import (
	"bufio"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lanyard-dev/lanyard/internal/poll"
)

// removeContainers kills and deletes every container of the node, so their shims
// exit and their mounts go, before containerd stops.
func (n *Node) removeContainers(t testing.TB) {
	out, err := n.ctr("tasks", "list", "--quiet")
	if err != nil {
		t.Errorf("k8snode: listing containers: %v", err)
		return
	}
	for _, id := range strings.Fields(out) {
		_, _ = n.ctr("tasks", "kill", "--signal", "SIGKILL", id)
	}
	for _, id := range strings.Fields(out) {
		poll.Until(t, 30*time.Second, "container "+id+" deleted", func() bool {
			_, err := n.ctr("tasks", "delete", id)
			return err == nil || strings.Contains(err.Error(), "not found")
		})
	}
	if out, err = n.ctr("containers", "list", "--quiet"); err == nil {
		for _, id := range strings.Fields(out) {
			_, _ = n.ctr("containers", "delete", id)
		}
	}
}

// cleanupHost removes what the node left outside its processes: shims still running
// (found by their containerd address), mounts under the node's folder, the cgroups
// under its cgroup root, and the folder itself.
func cleanupHost(t testing.TB, d dirs, cgroupRoot string) {
	killShims(d.containerdSock)
	for _, m := range mountsUnder(d.base) {
		if err := syscall.Unmount(m, syscall.MNT_DETACH); err != nil && !errors.Is(err, syscall.EINVAL) && !errors.Is(err, syscall.ENOENT) {
			t.Errorf("k8snode: unmounting %s: %v", m, err)
		}
	}
	for _, root := range cgroupHierarchies() {
		removeCgroupTree(t, filepath.Join(root, cgroupRoot))
	}
	removeLogLinks(d.podLogs)
	if err := os.RemoveAll(d.base); err != nil {
		t.Errorf("k8snode: removing %s: %v", d.base, err)
	}
}

// removeLogLinks removes the links the kubelet made in /var/log/containers (a path it
// does not let one change) to the node's container logs.
func removeLogLinks(podLogs string) {
	links, _ := filepath.Glob("/var/log/containers/*.log")
	for _, l := range links {
		if target, err := os.Readlink(l); err == nil && strings.HasPrefix(target, podLogs+"/") {
			_ = os.Remove(l)
		}
	}
}

// killShims kills containerd-shim processes serving the node's containerd. Each one
// was started by that containerd, so by this test.
func killShims(sock string) {
	procs, _ := os.ReadDir("/proc")
	for _, p := range procs {
		pid, err := strconv.Atoi(p.Name())
		if err != nil {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", p.Name(), "cmdline"))
		if err != nil {
			continue
		}
		args := strings.Split(string(cmdline), "\x00")
		if strings.HasPrefix(filepath.Base(args[0]), "containerd-shim") && slices.Contains(args, sock) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

// mountsUnder lists the mount points under dir, deepest first.
func mountsUnder(dir string) []string {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	defer f.Close()
	var ms []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 {
			continue
		}
		// Octal escapes (\040 for a space) do not occur in our own paths.
		if mp := fields[4]; mp == dir || strings.HasPrefix(mp, dir+"/") {
			ms = append(ms, mp)
		}
	}
	slices.SortFunc(ms, func(a, b string) int { return len(b) - len(a) })
	return ms
}

// cgroupHierarchies are the mounted cgroup hierarchies: each v1 controller folder and
// the v2 one (a hybrid host's unified mount, or the root of a unified host).
func cgroupHierarchies() []string {
	if _, err := os.Stat("/sys/fs/cgroup/cgroup.controllers"); err == nil {
		return []string{"/sys/fs/cgroup"}
	}
	entries, _ := os.ReadDir("/sys/fs/cgroup")
	var hs []string
	for _, e := range entries {
		if e.IsDir() {
			hs = append(hs, filepath.Join("/sys/fs/cgroup", e.Name()))
		}
	}
	return hs
}

// makeCgroupRoot creates the kubelet's cgroup root in every hierarchy (the kubelet
// requires it to exist), with the cpuset of the host so processes may join it.
func makeCgroupRoot(t testing.TB, root string) {
	t.Helper()
	for _, h := range cgroupHierarchies() {
		dir := filepath.Join(h, root)
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatalf("k8snode: creating cgroup %s: %v", dir, err)
		}
		for _, f := range []string{"cpuset.cpus", "cpuset.mems"} {
			if v, err := os.ReadFile(filepath.Join(h, f)); err == nil {
				if err := os.WriteFile(filepath.Join(dir, f), v, 0o644); err != nil {
					t.Fatalf("k8snode: %v", err)
				}
			}
		}
	}
}

// removeCgroupTree removes a cgroup and its children, deepest first, killing any
// process still in them.
func removeCgroupTree(t testing.TB, dir string) {
	var all []string
	_ = filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err == nil && e.IsDir() {
			all = append(all, p)
		}
		return nil
	})
	for i := len(all) - 1; i >= 0; i-- {
		cg := all[i]
		// A killed process leaves its cgroup a moment after the signal.
		poll.Until(t, 10*time.Second, "cgroup "+cg+" removed", func() bool {
			killProcsIn(cg)
			err := os.Remove(cg)
			return err == nil || errors.Is(err, fs.ErrNotExist)
		})
	}
}

func killProcsIn(cg string) {
	b, err := os.ReadFile(filepath.Join(cg, "cgroup.procs"))
	if err != nil {
		return
	}
	for _, f := range strings.Fields(string(b)) {
		if pid, err := strconv.Atoi(f); err == nil && pid > 0 {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}
