package k8s

import (
	"bytes"
	"os"
	"strconv"
	"strings"
	"testing"
)

// FuzzParseCgroups feeds /proc/<pid>/cgroup contents. A process is attested as the
// container found here, so a match must name a well-formed pod UID and container ID
// that the file really contains, and every line must agree on it.
func FuzzParseCgroups(f *testing.F) {
	if self, err := os.ReadFile("/proc/self/cgroup"); err == nil {
		f.Add(self)
	}
	for _, s := range []string{
		"12:hugetlb:/kubepods/besteffort/pod" + uid + "/" + cid + "\n0::/\n",
		"1:name=systemd:/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + uidUnder + ".slice/cri-containerd-" + cid + ".scope",
		"0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" + uidUnder + ".slice/crio-" + cid + ".scope/container",
		"0::/system.slice/docker-" + hostCID + ".scope/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-besteffort.slice/kubelet-kubepods-besteffort-pod" + uidUnder + ".slice/cri-containerd-" + cid + ".scope",
		"0::/../../kubepods-besteffort-pod" + uidUnder + ".slice/cri-containerd-" + cid + ".scope",
		"0::/kubepods/burstable/pod" + staticID + "/" + cid,
		"0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + uidUnder + ".slice/crio-conmon-" + cid + ".scope",
		"8:pids:/kubepods/besteffort/pod" + uid + "/" + cid + "\n0::/kubepods/besteffort/pod" + uid + "/" + cid2,
		"0::/kubepods/pod" + uid + "/" + strings.ToUpper(cid),
		"0::/kubepods-pod" + uidUnder + ".slice/x-" + cid + ".scope",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, ok, err := parseCgroups(bytes.NewReader(data))
		if err != nil || !ok {
			return
		}
		if !validUID(c.podUID) || !isContainerID(c.id) {
			t.Fatalf("matched pod %q container %q", c.podUID, c.id)
		}
		if !bytes.Contains(data, []byte(c.id)) ||
			!bytes.Contains(data, []byte(c.podUID)) && !bytes.Contains(data, []byte(strings.ReplaceAll(c.podUID, "-", "_"))) {
			t.Fatalf("matched pod %q container %q, which the file does not name", c.podUID, c.id)
		}
		for _, line := range strings.Split(string(data), "\n") {
			_, rest, _ := strings.Cut(line, ":")
			_, path, found := strings.Cut(rest, ":")
			if !found {
				continue
			}
			if got, match := parseCgroupPath(path); match && got != c {
				t.Fatalf("line %q names %+v, the result is %+v", line, got, c)
			}
		}
	})
}

// FuzzPodList feeds the kubelet's /pods answer and attests every container in it, as
// Attest does once the cgroup named one. The selectors must describe that container of
// that pod and nothing else.
func FuzzPodList(f *testing.F) {
	f.Add([]byte(`{"kind":"PodList","items":[{"metadata":{"name":"web-0","namespace":"shop","uid":"` + uid + `",` +
		`"labels":{"app":"web","tier":"front"},"ownerReferences":[{"kind":"StatefulSet","name":"web","uid":"` + ownerUID + `"}]},` +
		`"spec":{"nodeName":"worker-1","serviceAccountName":"web"},` +
		`"status":{"containerStatuses":[{"name":"app","image":"nginx:1.27","imageID":"docker.io/library/nginx@sha256:` + cid + `","containerID":"containerd://` + cid + `"}],` +
		`"initContainerStatuses":[{"name":"init","image":"busybox","imageID":"","containerID":"containerd://` + cid2 + `"}]}}]}`))
	f.Add([]byte(`{"items":[{"metadata":{"uid":"u"},"status":{"containerStatuses":[{"containerID":"://"},{"containerID":"docker://x://y"}]}}]}`))
	f.Add([]byte(`{"items":[{"metadata":{"uid":"u","labels":{"a:b":"c\nk8s:ns:kube-system"}},"status":{"ephemeralContainerStatuses":[{"name":"debug","containerID":"cri-o://e"}]}}]}`))
	f.Add([]byte(`{"items":null}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		pods, err := decodePods(bytes.NewReader(data))
		if err != nil {
			return
		}
		for _, p := range pods {
			statuses := append(append(append([]containerStatus(nil), p.Status.ContainerStatuses...), p.Status.InitContainerStatuses...), p.Status.EphemeralContainerStatuses...)
			for _, cs := range statuses {
				_, id, ok := strings.Cut(cs.ContainerID, "://")
				if !ok {
					continue
				}
				got, st := find(pods, container{podUID: p.Metadata.UID, id: id})
				if got == nil || st == nil {
					t.Fatalf("container %q of pod %q is in the list but not found", id, p.Metadata.UID)
				}
				if got.Metadata.UID != p.Metadata.UID || !strings.HasSuffix(st.ContainerID, "://"+id) {
					t.Fatalf("looking up container %q of pod %q found %q of pod %q", id, p.Metadata.UID, st.ContainerID, got.Metadata.UID)
				}
				checkSelectors(t, got, st)
			}
		}
	})
}

func checkSelectors(t *testing.T, p *pod, st *containerStatus) {
	t.Helper()
	sels := selectors(p, st)
	values := map[string]bool{}
	for _, s := range sels {
		if s.Type != SelectorType {
			t.Fatalf("selector type %q", s.Type)
		}
		values[s.Value] = true
	}
	for _, want := range []string{
		"ns:" + p.Metadata.Namespace, "pod-uid:" + p.Metadata.UID, "pod-name:" + p.Metadata.Name, "container-name:" + st.Name,
		"pod-image-count:" + strconv.Itoa(len(p.Status.ContainerStatuses)),
		"pod-init-image-count:" + strconv.Itoa(len(p.Status.InitContainerStatuses)),
	} {
		if !values[want] {
			t.Fatalf("selectors %v lack %q", sels, want)
		}
	}
	for k, v := range p.Metadata.Labels {
		if !values["pod-label:"+k+":"+v] {
			t.Fatalf("selectors %v lack label %q=%q", sels, k, v)
		}
	}
}
