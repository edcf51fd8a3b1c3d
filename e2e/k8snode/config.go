package k8snode

import (
	"github.com/lanyard-dev/lanyard/e2e/images"

	"fmt"
	"strconv"
)

// PauseImage is the sandbox image containerd starts every pod with; tests import it
// (e2e/images builds it) before pods are created.
const PauseImage = images.PauseRef

// containerdConfig gives the node's containerd its own root, state and sockets, so it
// never meets a containerd the host may run. restrict_oom_score_adj lets it run where
// it may not lower OOM scores; the CNI folder holds one loopback-only network so the
// runtime reports its network ready (hostNetwork pods never call CNI).
func containerdConfig(d dirs) string {
	return fmt.Sprintf(`version = 2
root = %[1]q
state = %[2]q

[grpc]
  address = %[3]q

[ttrpc]
  address = %[4]q

[metrics]
  address = ""

[plugins."io.containerd.internal.v1.opt"]
  path = %[5]q

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = %[6]q
  restrict_oom_score_adj = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = %[7]q
    conf_dir = %[8]q
`, d.containerdRoot, d.containerdState, d.containerdSock, d.containerdSock+".ttrpc", d.opt, PauseImage, d.cniBin, d.cniConf)
}

const cniConfig = `{"cniVersion": "0.4.0", "name": "k8snode-hostnetwork-only", "plugins": [{"type": "loopback"}]}`

// kubeletConfig: the secure port on 127.0.0.1 with webhook authentication and
// authorization (a bearer token is reviewed by the apiserver, then a
// SubjectAccessReview on nodes/proxy decides), no read-only port, a serving certificate
// from the cluster CA, cgroups under a root of its own, and eviction thresholds low
// enough that a busy shared machine does not evict the test's pods.
func kubeletConfig(d dirs, port, healthzPort int, caFile, cgroupRoot string) string {
	return `apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: 127.0.0.1
port: ` + strconv.Itoa(port) + `
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: ` + strconv.Itoa(healthzPort) + `
tlsCertFile: ` + strconv.Quote(d.servingCert) + `
tlsPrivateKeyFile: ` + strconv.Quote(d.servingKey) + `
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: ` + strconv.Quote(caFile) + `}
authorization:
  mode: Webhook
containerRuntimeEndpoint: ` + strconv.Quote("unix://"+d.containerdSock) + `
cgroupDriver: cgroupfs
cgroupRoot: ` + strconv.Quote(cgroupRoot) + `
failCgroupV1: false
failSwapOn: false
podLogsDir: ` + strconv.Quote(d.podLogs) + `
serializeImagePulls: false
evictionHard: {memory.available: "1Mi", nodefs.available: "1%", imagefs.available: "1%", nodefs.inodesFree: "1%"}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
syncFrequency: 10s
nodeStatusUpdateFrequency: 5s
`
}
