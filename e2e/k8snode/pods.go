package k8snode

import (
	"fmt"
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
