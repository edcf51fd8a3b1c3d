package k8s

import (
	"bufio"
	"fmt"
	"io"
	"strings"
)

// container is where a process runs according to its cgroups.
type container struct {
	podUID string // with dashes, as the API reports it
	id     string // 64 hex digits, as the runtime reports it after "<runtime>://"
}

// parseCgroups reads /proc/<pid>/cgroup (v1 lines "N:controllers:/path", v2 lines
// "0::/path") and finds the pod and container the process belongs to. ok is false for
// a process outside any Kubernetes container. Lines naming two different containers
// are an error: attesting either would be a guess.
func parseCgroups(r io.Reader) (c container, ok bool, err error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for sc.Scan() {
		_, rest, found := strings.Cut(sc.Text(), ":")
		if !found {
			continue
		}
		_, path, found := strings.Cut(rest, ":")
		if !found {
			continue
		}
		got, match := parseCgroupPath(path)
		if !match {
			continue
		}
		if ok && got != c {
			return container{}, false, fmt.Errorf("cgroups name two containers (%s in pod %s and %s in pod %s)", c.id, c.podUID, got.id, got.podUID)
		}
		c, ok = got, true
	}
	if err := sc.Err(); err != nil {
		return container{}, false, err
	}
	return c, ok, nil
}

// parseCgroupPath recognises the layouts the kubelet creates:
//
//	cgroupfs driver: .../kubepods[/besteffort|/burstable]/pod<uid>/<container-id>
//	systemd driver:  .../kubepods.slice/kubepods-<qos>.slice/kubepods-<qos>-pod<uid_with_underscores>.slice/<runtime>-<container-id>.scope
//
// including kubelets nested in another container (kind: /docker/<id>/kubepods/...,
// kubelet-kubepods-*.slice) and paths relative to a private cgroup namespace. The
// segment after the pod's is the container; anything deeper (crio's /container) is
// ignored. A process in the pod cgroup itself, or in a runtime helper such as CRI-O's
// conmon, is in no container.
func parseCgroupPath(path string) (container, bool) {
	segs := strings.Split(path, "/")
	inKubepods := false
	for i, seg := range segs {
		uid, isPod := podSegment(seg, inKubepods)
		if !isPod {
			if strings.Contains(seg, "kubepods") {
				inKubepods = true
			}
			continue
		}
		if i+1 >= len(segs) {
			return container{}, false
		}
		id, isContainer := containerSegment(segs[i+1])
		if !isContainer {
			return container{}, false
		}
		return container{podUID: uid, id: id}, true
	}
	return container{}, false
}

// podSegment returns the pod UID named by a cgroup path segment.
func podSegment(seg string, inKubepods bool) (string, bool) {
	if base, isSlice := strings.CutSuffix(seg, ".slice"); isSlice {
		// kubepods-burstable-pod<uid>.slice; systemd does not allow '-' inside a unit
		// name component, so the kubelet writes the UID's dashes as underscores.
		i := strings.LastIndex(base, "-pod")
		if i < 0 || !strings.Contains(base[:i], "kubepods") {
			return "", false
		}
		uid := strings.ReplaceAll(base[i+len("-pod"):], "_", "-")
		return uid, validUID(uid)
	}
	if !inKubepods {
		return "", false
	}
	uid, found := strings.CutPrefix(seg, "pod")
	return uid, found && validUID(uid)
}

// containerSegment returns the container ID named by a cgroup path segment: the ID
// itself (cgroupfs with containerd or docker), crio-<id> (cgroupfs with CRI-O) or
// <runtime>-<id>.scope (systemd: cri-containerd, crio, docker).
func containerSegment(seg string) (string, bool) {
	if isContainerID(seg) {
		return seg, true
	}
	base, isScope := strings.CutSuffix(seg, ".scope")
	if !isScope && !strings.HasPrefix(seg, "crio-") {
		return "", false
	}
	i := strings.LastIndex(base, "-")
	if i <= 0 || strings.Contains(base[:i], "conmon") {
		return "", false
	}
	id := base[i+1:]
	return id, isContainerID(id)
}

// validUID accepts API-server UIDs (8-4-4-4-12 hex) and the 32-hex UIDs the kubelet
// derives for static pods.
func validUID(s string) bool {
	switch len(s) {
	case 32:
		return isHex(s)
	case 36:
		for i := 0; i < len(s); i++ {
			if i == 8 || i == 13 || i == 18 || i == 23 {
				if s[i] != '-' {
					return false
				}
			} else if !isHexByte(s[i]) {
				return false
			}
		}
		return true
	}
	return false
}

func isContainerID(s string) bool { return len(s) == 64 && isHex(s) }

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isHexByte(s[i]) {
			return false
		}
	}
	return true
}

func isHexByte(b byte) bool {
	return b >= '0' && b <= '9' || b >= 'a' && b <= 'f' || b >= 'A' && b <= 'F'
}
