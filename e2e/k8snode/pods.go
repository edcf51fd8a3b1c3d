package k8snode

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Running is met by a pod whose containers all run and are ready.
func Running(p *corev1.Pod) bool {
	if p.Status.Phase != corev1.PodRunning {
		return false
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// Succeeded is met by a pod whose containers all exited 0.
func Succeeded(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodSucceeded }

// WaitPod polls pod ns/name until cond holds and returns it. It fails t when the pod
// fails or within passes, with the pod's status and the kubelet's log.
func (n *Node) WaitPod(t testing.TB, ns, name string, within time.Duration, cond func(*corev1.Pod) bool) *corev1.Pod {
	t.Helper()
	deadline := time.Now().Add(within)
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		p, err := n.Client.CoreV1().Pods(ns).Get(ctx(t), name, metav1.GetOptions{})
		if err == nil && cond(p) {
			return p
		}
		failed := err == nil && p.Status.Phase == corev1.PodFailed
		if failed || time.Now().After(deadline) {
			t.Fatalf("k8snode: pod %s/%s: %v %s\n--- kubelet log tail ---\n%s", ns, name, err, describe(p), n.Log("kubelet"))
		}
		<-tick.C
	}
}

func describe(p *corev1.Pod) string {
	if p == nil {
		return ""
	}
	s := fmt.Sprintf("phase %s", p.Status.Phase)
	for _, c := range p.Status.Conditions {
		s += fmt.Sprintf("; %s=%s %s", c.Type, c.Status, c.Message)
	}
	for _, c := range append(p.Status.InitContainerStatuses, p.Status.ContainerStatuses...) {
		switch {
		case c.State.Waiting != nil:
			s += fmt.Sprintf("; %s waiting: %s %s", c.Name, c.State.Waiting.Reason, c.State.Waiting.Message)
		case c.State.Terminated != nil:
			s += fmt.Sprintf("; %s exited %d: %s %s", c.Name, c.State.Terminated.ExitCode, c.State.Terminated.Reason, c.State.Terminated.Message)
		}
	}
	return s
}

// ContainerLog is everything container of pod ns/name has written so far, over all its
// restarts, read from the kubelet's log files (CRI format, one "TIME STREAM TAG" prefix
// per line). The apiserver cannot fetch logs here: it holds no kubelet client
// certificate.
func (n *Node) ContainerLog(t testing.TB, ns, name, container string) string {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(n.dirs.podLogs, ns+"_"+name+"_*", container, "*.log"))
	sort.Strings(files)
	var b strings.Builder
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err == nil {
			b.Write(data)
		}
	}
	return b.String()
}

// ContainerPID is the host PID of the main process of a running container, given as
// the kubelet reports it ("containerd://<id>") or as the bare ID.
func (n *Node) ContainerPID(t testing.TB, containerID string) int32 {
	t.Helper()
	id := containerID[strings.LastIndex(containerID, "/")+1:]
	out, err := n.ctr("tasks", "list")
	if err != nil {
		t.Fatalf("k8snode: %v", err)
	}
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 && f[0] == id {
			pid, err := strconv.Atoi(f[1])
			if err != nil {
				t.Fatalf("k8snode: ctr tasks list: %q", line)
			}
			return int32(pid)
		}
	}
	t.Fatalf("k8snode: container %s has no task:\n%s", id, out)
	return 0
}
