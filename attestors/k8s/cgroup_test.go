package k8s

import (
	"strings"
	"testing"
)

const (
	uid      = "2ece296c-c5ec-11e7-858e-fa163e451acc"
	uidUnder = "2ece296c_c5ec_11e7_858e_fa163e451acc"
	staticID = "6a8a5f0b4f09d2bcd8c1c2b2fc7a6c2e" // kubelet-derived UID of a static pod
	cid      = "bc1eb339399eae78dd1115c765fda84b71ac6a954291b223820cfe775d8af778"
	cid2     = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	hostCID  = "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210"
)

func TestParseCgroups(t *testing.T) {
	want := container{podUID: uid, id: cid}
	tests := []struct {
		name    string
		file    string
		want    container
		wantOK  bool
		wantErr string
	}{
		{"cgroup v1 cgroupfs, besteffort pod (every controller line agrees)", strings.Join([]string{
			"12:hugetlb:/kubepods/besteffort/pod" + uid + "/" + cid,
			"11:memory:/kubepods/besteffort/pod" + uid + "/" + cid,
			"7:pids:/kubepods/besteffort/pod" + uid + "/" + cid,
			"1:name=systemd:/kubepods/besteffort/pod" + uid + "/" + cid,
			"0::/",
		}, "\n"), want, true, ""},
		{"cgroup v1 cgroupfs, burstable pod", "4:cpu,cpuacct:/kubepods/burstable/pod" + uid + "/" + cid, want, true, ""},
		{"cgroup v1 cgroupfs, guaranteed pod has no QoS level", "3:memory:/kubepods/pod" + uid + "/" + cid, want, true, ""},
		{"only one controller placed in kubepods is enough", "9:name=systemd:/\n8:pids:/kubepods/besteffort/pod" + uid + "/" + cid + "\n7:blkio:/", want, true, ""},
		{"cgroup v1 systemd driver, containerd", "1:name=systemd:/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + uidUnder + ".slice/cri-containerd-" + cid + ".scope", want, true, ""},
		{"cgroup v2 systemd driver, containerd", "0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" + uidUnder + ".slice/cri-containerd-" + cid + ".scope", want, true, ""},
		{"cgroup v2 systemd driver, guaranteed pod", "0::/kubepods.slice/kubepods-pod" + uidUnder + ".slice/cri-containerd-" + cid + ".scope", want, true, ""},
		{"cgroup v2 systemd driver, CRI-O", "0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + uidUnder + ".slice/crio-" + cid + ".scope", want, true, ""},
		{"CRI-O's nested container cgroup", "0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + uidUnder + ".slice/crio-" + cid + ".scope/container", want, true, ""},
		{"systemd driver with dockershim/cri-dockerd", "1:name=systemd:/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" + uidUnder + ".slice/docker-" + cid + ".scope", want, true, ""},
		{"cgroup v1 cgroupfs driver, CRI-O", "7:pids:/kubepods/burstable/pod" + uid + "/crio-" + cid, want, true, ""},
		{"CRI-O's conmon under cgroupfs is no container", "7:pids:/kubepods/burstable/pod" + uid + "/crio-conmon-" + cid, container{}, false, ""},
		{"cgroup v2 cgroupfs driver", "0::/kubepods/besteffort/pod" + uid + "/" + cid, want, true, ""},
		{"kind: kubelet nested in a docker container (cgroupfs)", "5:pids:/docker/" + hostCID + "/kubepods/besteffort/pod" + uid + "/" + cid, want, true, ""},
		{"kind: kubelet nested in a docker container (systemd)", "0::/system.slice/docker-" + hostCID + ".scope/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-besteffort.slice/kubelet-kubepods-besteffort-pod" + uidUnder + ".slice/cri-containerd-" + cid + ".scope", want, true, ""},
		{"a path relative to the agent's private cgroup namespace", "0::/../../kubepods-besteffort-pod" + uidUnder + ".slice/cri-containerd-" + cid + ".scope", want, true, ""},
		{"a static pod's 32-hex UID", "0::/kubepods/burstable/pod" + staticID + "/" + cid, container{podUID: staticID, id: cid}, true, ""},
		{"CRI-O's conmon is no container", "0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + uidUnder + ".slice/crio-conmon-" + cid + ".scope", container{}, false, ""},
		{"a process in the pod cgroup itself is in no container", "7:pids:/kubepods/besteffort/pod" + uid, container{}, false, ""},
		{"a host process on a systemd host", "0::/user.slice/user-1000.slice/session-2.scope", container{}, false, ""},
		{"a plain docker container outside Kubernetes", "7:pids:/docker/" + cid, container{}, false, ""},
		{"a systemd service named like a container", "0::/system.slice/docker-" + cid + ".scope", container{}, false, ""},
		{"a pod-like folder outside kubepods", "0::/mygroup/pod" + uid + "/" + cid, container{}, false, ""},
		{"a truncated container ID", "0::/kubepods/besteffort/pod" + uid + "/" + cid[:12], container{}, false, ""},
		{"a malformed pod UID", "0::/kubepods/besteffort/podnot-a-uid/" + cid, container{}, false, ""},
		{"an empty file", "", container{}, false, ""},
		{"garbage lines are skipped", "garbage\n::\n7:pids:/kubepods/besteffort/pod" + uid + "/" + cid, want, true, ""},
		{"lines naming two containers are refused", "8:pids:/kubepods/besteffort/pod" + uid + "/" + cid + "\n0::/kubepods/besteffort/pod" + uid + "/" + cid2, container{}, false, "two containers"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok, err := parseCgroups(strings.NewReader(tc.file))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error = %v, want it to contain %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if ok != tc.wantOK || got != tc.want {
				t.Fatalf("parseCgroups = %+v, %v; want %+v, %v", got, ok, tc.want, tc.wantOK)
			}
		})
	}
}
