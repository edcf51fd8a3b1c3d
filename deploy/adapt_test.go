package deploy

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strconv"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
)

// testNode is what the manifests must be pointed at on the test node.
type testNode struct {
	apiPort                               int    // kube-apiserver's port on 127.0.0.1
	kubeletPort                           int    // the kubelet's secure port on 127.0.0.1
	serverPort, serverHealth, agentHealth int    // free ports for the hostNetwork pods
	socketsDir, agentDataDir, imageTag    string // host folders and the tag of the built images
}

// adapt changes in manifests (multi-document YAML) only what a one-node cluster without CNI,
// kube-proxy or cluster DNS needs, so that everything else is installed as shipped:
//   - pods share the host network (no CNI), on free ports instead of 8081-8083, which
//     other programs on a shared test machine may hold;
//   - in-cluster clients reach the apiserver at 127.0.0.1 (no kube-proxy for the
//     kubernetes Service) and the agent reaches the server there too (no cluster DNS);
//   - the agent reaches the kubelet at 127.0.0.1 on its test port;
//   - host folders (the Workload API socket, agent data) live under the test's folder;
//   - images carry the tag the test built.
func adapt(t *testing.T, data []byte, n testNode) []byte {
	t.Helper()
	ports := map[float64]int{8081: n.serverPort, 8082: n.serverHealth, 8083: n.agentHealth}
	hostPaths := map[string]string{"/run/lanyard/sockets": n.socketsDir, "/var/lib/lanyard/agent": n.agentDataDir}
	cfgEdits := strings.NewReplacer(
		"bind_port: 8081", "bind_port: "+strconv.Itoa(n.serverPort),
		"server_port: 8081", "server_port: "+strconv.Itoa(n.serverPort),
		"health_address: 0.0.0.0:8082", "health_address: 0.0.0.0:"+strconv.Itoa(n.serverHealth),
		"health_address: 0.0.0.0:8083", "health_address: 0.0.0.0:"+strconv.Itoa(n.agentHealth),
		"server_address: lanyard-server.lanyard.svc", "server_address: 127.0.0.1",
		"k8s: {}", "k8s: {kubelet_host: 127.0.0.1, kubelet_secure_port: "+strconv.Itoa(n.kubeletPort)+"}",
	)
	var out bytes.Buffer
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	for {
		var raw map[string]any
		if err := dec.Decode(&raw); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		if len(raw) == 0 {
			continue
		}
		obj := &unstructured.Unstructured{Object: raw}
		switch obj.GetKind() {
		case "ConfigMap":
			cm, _, _ := unstructured.NestedStringMap(raw, "data")
			for k, v := range cm {
				cm[k] = cfgEdits.Replace(v)
			}
			must(t, unstructured.SetNestedStringMap(raw, cm, "data"))
		case "StatefulSet", "DaemonSet":
			spec, _, _ := unstructured.NestedMap(raw, "spec", "template", "spec")
			spec["hostNetwork"] = true
			spec["dnsPolicy"] = "ClusterFirstWithHostNet"
			for _, v := range spec["volumes"].([]any) {
				if hp, ok := v.(map[string]any)["hostPath"].(map[string]any); ok {
					if p, ok := hostPaths[hp["path"].(string)]; ok {
						hp["path"] = p
					}
				}
			}
			for _, c := range spec["containers"].([]any) {
				c := c.(map[string]any)
				c["image"] = strings.TrimSuffix(c["image"].(string), ":latest") + ":" + n.imageTag
				env, _ := c["env"].([]any)
				c["env"] = append(env,
					map[string]any{"name": "KUBERNETES_SERVICE_HOST", "value": "127.0.0.1"},
					map[string]any{"name": "KUBERNETES_SERVICE_PORT", "value": strconv.Itoa(n.apiPort)})
				for _, p := range c["ports"].([]any) {
					p := p.(map[string]any)
					// Decoded through JSON, numbers are float64.
					if to, ok := ports[p["containerPort"].(float64)]; ok {
						p["containerPort"] = int64(to)
					}
				}
			}
			must(t, unstructured.SetNestedMap(raw, spec, "spec", "template", "spec"))
		}
		b, err := json.Marshal(raw)
		must(t, err)
		out.Write(b)
		out.WriteString("\n---\n")
	}
	return out.Bytes()
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
