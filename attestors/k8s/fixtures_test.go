package k8s

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/lanyard-dev/lanyard/e2e/k8stest"
)

const ownerUID = "8e0f3f5a-7c1d-4a55-9d1e-5b8f0c2a9e11"

// createWebPod creates shop/web-1: two containers, an init container, labels and a
// ReplicaSet owner, with the container statuses a kubelet would report.
func createWebPod(t *testing.T, c *k8stest.Cluster) workload {
	webID, sideID, initID := randomID(t), randomID(t), randomID(t)
	webImageID, sideImageID, initImageID := "example.org/web@"+digest(t), "example.org/envoy@"+digest(t), "example.org/init@"+digest(t)
	pod := c.CreatePod(t, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: "shop", Name: "web-1",
			Labels:          map[string]string{"app": "web", "tier": "frontend"},
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "web-5d9c", UID: ownerUID}},
		},
		Spec: corev1.PodSpec{
			NodeName:           "node-a",
			ServiceAccountName: "web",
			InitContainers:     []corev1.Container{{Name: "init", Image: "example.org/init:3"}},
			Containers:         []corev1.Container{{Name: "web", Image: "example.org/web:1.2"}, {Name: "sidecar", Image: "example.org/envoy:1.30"}},
		},
		Status: corev1.PodStatus{
			Phase: corev1.PodRunning, HostIP: "192.0.2.10", PodIP: "10.1.0.7",
			InitContainerStatuses: []corev1.ContainerStatus{running("init", "example.org/init:3", initImageID, "containerd://"+initID)},
			ContainerStatuses: []corev1.ContainerStatus{
				running("web", "example.org/web:1.2", webImageID, "containerd://"+webID),
				running("sidecar", "example.org/envoy:1.30", sideImageID, "containerd://"+sideID),
			},
		},
	})
	return workload{pod: pod, container: webID, selectors: []string{
		"k8s:ns:shop",
		"k8s:sa:web",
		"k8s:node-name:node-a",
		"k8s:pod-uid:" + string(pod.UID),
		"k8s:pod-name:web-1",
		"k8s:pod-label:app:web",
		"k8s:pod-label:tier:frontend",
		"k8s:pod-owner:ReplicaSet:web-5d9c",
		"k8s:pod-owner-uid:ReplicaSet:" + ownerUID,
		"k8s:container-name:web",
		"k8s:container-image:example.org/web:1.2",
		"k8s:container-image:" + webImageID,
		"k8s:pod-image:example.org/web:1.2",
		"k8s:pod-image:" + webImageID,
		"k8s:pod-image:example.org/envoy:1.30",
		"k8s:pod-image:" + sideImageID,
		"k8s:pod-image-count:2",
		"k8s:pod-init-image:example.org/init:3",
		"k8s:pod-init-image:" + initImageID,
		"k8s:pod-init-image-count:1",
	}}
}

// createDBPod creates shop/db-0: one container run by CRI-O, owned by a StatefulSet.
func createDBPod(t *testing.T, c *k8stest.Cluster) workload {
	id, imageID := randomID(t), "example.org/postgres@"+digest(t)
	pod := c.CreatePod(t, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: "shop", Name: "db-0",
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "StatefulSet", Name: "db", UID: ownerUID}},
		},
		Spec: corev1.PodSpec{
			NodeName:           "node-a",
			ServiceAccountName: "db",
			Containers:         []corev1.Container{{Name: "postgres", Image: "example.org/postgres:16"}},
		},
		Status: corev1.PodStatus{
			Phase: corev1.PodRunning, HostIP: "192.0.2.10", PodIP: "10.1.0.8",
			ContainerStatuses: []corev1.ContainerStatus{running("postgres", "example.org/postgres:16", imageID, "cri-o://"+id)},
		},
	})
	return workload{pod: pod, container: id, selectors: []string{
		"k8s:ns:shop",
		"k8s:sa:db",
		"k8s:node-name:node-a",
		"k8s:pod-uid:" + string(pod.UID),
		"k8s:pod-name:db-0",
		"k8s:pod-owner:StatefulSet:db",
		"k8s:pod-owner-uid:StatefulSet:" + ownerUID,
		"k8s:container-name:postgres",
		"k8s:container-image:example.org/postgres:16",
		"k8s:container-image:" + imageID,
		"k8s:pod-image:example.org/postgres:16",
		"k8s:pod-image:" + imageID,
		"k8s:pod-image-count:1",
		"k8s:pod-init-image-count:0",
	}}
}

// running is the status of a started container; containerID is "<runtime>://<id>".
func running(name, image, imageID, containerID string) corev1.ContainerStatus {
	return corev1.ContainerStatus{
		Name: name, Image: image, ImageID: imageID, ContainerID: containerID, Ready: true,
		State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.Now()}},
	}
}

// testRealCgroups runs two real processes, puts each in the cgroup the kubelet would
// create for its pod's container (cgroup v1 cgroupfs layout for one, v2 systemd layout
// for the other where available) and attests them through the real /proc.
func testRealCgroups(t *testing.T, newAttestor func(*testing.T, Config) *Attestor, web, db workload) {
	if os.Geteuid() != 0 {
		t.Skip("placing processes in cgroups needs root")
	}
	webDir, dbDir, ok := k8stest.CgroupPair(web.pod.UID, web.container, db.pod.UID, db.container)
	if !ok {
		t.Skip("no cgroup v1 pids or cgroup v2 hierarchy")
	}
	webPID := runIn(t, webDir)
	dbPID := runIn(t, dbDir)

	a := newAttestor(t, Config{ProcRoot: "/proc"})
	ctx := t.Context()
	got, err := a.Attest(ctx, webPID)
	assertSelectors(t, got, err, web.selectors)
	got, err = a.Attest(ctx, dbPID)
	assertSelectors(t, got, err, db.selectors)
	got, err = a.Attest(ctx, int32(os.Getpid()))
	if err != nil || len(got) != 0 {
		t.Fatalf("the test process itself: Attest = %v, %v; want no selectors", got, err)
	}
}

// runIn makes cgroup dir, starts a process and moves it there. Cleanup stops the
// process before the cgroup is removed.
func runIn(t *testing.T, dir string) int32 {
	k8stest.MakeCgroup(t, dir)
	cmd := exec.Command("sleep", "600")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	if err := os.WriteFile(filepath.Join(dir, "cgroup.procs"), []byte(strconv.Itoa(cmd.Process.Pid)), 0o644); err != nil {
		t.Fatalf("moving process into %s: %v", dir, err)
	}
	return int32(cmd.Process.Pid)
}
