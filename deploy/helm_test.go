package deploy

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"

	agentconfig "github.com/lanyard-dev/lanyard/agent/config"
	serverconfig "github.com/lanyard-dev/lanyard/server/config"
)

// helmBin finds the helm built by e2e/helm/install.sh. Like the Kubernetes binaries, a
// missing one skips the test unless LANYARD_REQUIRE_K8S is set.
func helmBin(t *testing.T) string {
	t.Helper()
	cache := os.Getenv("LANYARD_CACHE")
	if cache == "" {
		cache = filepath.Join("..", ".cache")
	}
	bin := filepath.Join(cache, "helm", "bin", "helm")
	if _, err := os.Stat(bin); err != nil {
		msg := "helm not found at " + bin + ": run e2e/helm/install.sh"
		if os.Getenv("LANYARD_REQUIRE_K8S") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return bin
}

// helmTemplate renders the chart as release "lanyard" in namespace lanyard, CRDs
// included, with --set values.
func helmTemplate(t *testing.T, helm string, set ...string) []byte {
	t.Helper()
	out, err := runHelm(helm, set...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func runHelm(helm string, set ...string) ([]byte, error) {
	args := []string{"template", "lanyard", filepath.Join("helm", "lanyard"), "--namespace", "lanyard", "--include-crds"}
	for _, s := range set {
		args = append(args, "--set", s)
	}
	cmd := exec.Command(helm, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	// helm keeps its caches and config under HOME; the test's are throwaway.
	cmd.Env = append(os.Environ(), "HELM_CACHE_HOME="+os.TempDir()+"/helm-cache", "HELM_CONFIG_HOME="+os.TempDir()+"/helm-config")
	out, err := cmd.Output()
	if err != nil {
		return nil, errors.New(strings.TrimSpace(stderr.String()))
	}
	return out, nil
}

// objects decodes multi-document YAML by "Kind/name".
func objects(t *testing.T, data []byte) map[string]*unstructured.Unstructured {
	t.Helper()
	objs := map[string]*unstructured.Unstructured{}
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	for {
		var raw map[string]any
		if err := dec.Decode(&raw); errors.Is(err, io.EOF) {
			return objs
		} else if err != nil {
			t.Fatal(err)
		}
		if len(raw) > 0 {
			o := &unstructured.Unstructured{Object: raw}
			objs[o.GetKind()+"/"+o.GetName()] = o
		}
	}
}

func rawManifests(t *testing.T) map[string]*unstructured.Unstructured {
	t.Helper()
	all := map[string]*unstructured.Unstructured{}
	for _, f := range []string{"crds/identitytemplates.yaml", "server.yaml", "agent.yaml"} {
		b, err := os.ReadFile(f)
		must(t, err)
		for k, v := range objects(t, b) {
			all[k] = v
		}
	}
	return all
}

// configOf parses the configuration a ConfigMap of the chart or of deploy/ carries.
func configOf(t *testing.T, cm *unstructured.Unstructured) any {
	t.Helper()
	data, _, _ := unstructured.NestedStringMap(cm.Object, "data")
	if v, ok := data["server.yaml"]; ok {
		cfg, err := serverconfig.Parse([]byte(v))
		must(t, err)
		return cfg
	}
	t.Setenv("MY_NODE_NAME", "node-1")
	cfg, err := agentconfig.Parse([]byte(data["agent.yaml"]))
	must(t, err)
	return cfg
}

// TestChartDefaultsRenderTheRawManifests: with default values the chart renders the
// objects deploy/ holds, field for field, and ConfigMaps whose configurations parse to
// the same settings; only the chart's config-hash annotations (restarting pods when
// the configuration changes) are its own. A change to one side without the other fails.
func TestChartDefaultsRenderTheRawManifests(t *testing.T) {
	chart := objects(t, helmTemplate(t, helmBin(t)))
	raw := rawManifests(t)
	for key, want := range raw {
		got, ok := chart[key]
		if !ok {
			t.Errorf("the chart lacks %s", key)
			continue
		}
		if want.GetKind() == "ConfigMap" {
			if g, w := configOf(t, got), configOf(t, want); !reflect.DeepEqual(g, w) {
				t.Errorf("%s: configurations differ:\nchart %+v\nraw   %+v", key, g, w)
			}
			continue
		}
		unstructured.RemoveNestedField(got.Object, "spec", "template", "metadata", "annotations")
		g, _ := json.Marshal(got.Object)
		w, _ := json.Marshal(want.Object)
		if !bytes.Equal(g, w) {
			t.Errorf("%s differs:\nchart %s\nraw   %s", key, g, w)
		}
	}
	for key := range chart {
		if _, ok := raw[key]; !ok {
			t.Errorf("the chart has %s, deploy/ does not", key)
		}
	}
}

// TestChartValues: the values a user sets reach the server's configuration (checked by
// the server's own parser) and the workloads, and impossible combinations are refused
// by helm with the value to change.
func TestChartValues(t *testing.T) {
	helm := helmBin(t)
	serverConfig := func(t *testing.T, set ...string) (serverconfig.Config, map[string]*unstructured.Unstructured) {
		objs := objects(t, helmTemplate(t, helm, set...))
		return configOf(t, objs["ConfigMap/lanyard-server"]).(serverconfig.Config), objs
	}
	t.Run("trust domain and cluster name reach server and agent", func(t *testing.T) {
		cfg, objs := serverConfig(t, "trustDomain=corp.example", "clusterName=east")
		agent := configOf(t, objs["ConfigMap/lanyard-agent"]).(agentconfig.Config)
		if cfg.TrustDomain != "corp.example" || agent.TrustDomain != "corp.example" || agent.K8sPSAT.Cluster != "east" ||
			cfg.KubernetesRegistration.Cluster != "east" || len(cfg.NodeAttestors.K8sPSAT.Clusters["east"].ServiceAccountAllowList) == 0 {
			t.Fatalf("server %+v\nagent %+v", cfg, agent)
		}
	})
	t.Run("PostgreSQL and three replicas", func(t *testing.T) {
		cfg, objs := serverConfig(t, "server.replicas=3", "server.datastore.type=postgres",
			"server.datastore.connectionString=postgres://lanyard@db:5432/lanyard?sslmode=verify-full",
			"server.datastore.passwordSecret.name=db", "server.datastore.passwordSecret.key=password")
		if cfg.Datastore.Type != "postgres" || !strings.HasPrefix(cfg.Datastore.ConnectionString, "postgres://lanyard@db") {
			t.Fatalf("datastore %+v", cfg.Datastore)
		}
		sts := objs["StatefulSet/lanyard-server"]
		if r, _, _ := unstructured.NestedFieldNoCopy(sts.Object, "spec", "replicas"); r != float64(3) && r != int64(3) {
			t.Fatalf("replicas %v", r)
		}
		if b, _ := json.Marshal(sts.Object); !strings.Contains(string(b), `"name":"PGPASSWORD"`) {
			t.Fatal("the password Secret is not given to the server as PGPASSWORD")
		}
	})
	t.Run("federation and OIDC", func(t *testing.T) {
		cfg, objs := serverConfig(t, "server.federation.bundleEndpoint.enabled=true",
			"server.federation.federatesWith.partner\\.org.bundle_endpoint_url=https://partner.example:8443",
			"server.federation.federatesWith.partner\\.org.profile=https_spiffe",
			"server.federation.federatesWith.partner\\.org.endpoint_spiffe_id=spiffe://partner.org/spire/server",
			"server.oidc.enabled=true", "server.oidc.issuer=https://oidc.example.org", "server.oidc.tlsSecret=oidc-tls")
		if _, ok := cfg.Federation.FederatesWith["partner.org"]; !ok || cfg.Federation.BundleEndpoint == nil {
			t.Fatalf("federation %+v", cfg.Federation)
		}
		if cfg.OIDC.Issuer != "https://oidc.example.org" || cfg.OIDC.Address == nil || !strings.HasSuffix(*cfg.OIDC.Address, ":8444") || cfg.OIDC.CertFile == "" {
			t.Fatalf("oidc %+v", cfg.OIDC)
		}
		svc, _ := json.Marshal(objs["Service/lanyard-server"].Object)
		for _, port := range []string{`"name":"bundle"`, `"name":"oidc"`} {
			if !strings.Contains(string(svc), port) {
				t.Errorf("the Service lacks port %s", port)
			}
		}
	})
	for _, tc := range []struct {
		name string
		set  []string
		want string
	}{
		{"two servers on SQLite", []string{"server.replicas=2"}, "server.replicas above 1 needs server.datastore.type postgres"},
		{"PostgreSQL without a connection string", []string{"server.datastore.type=postgres"}, "server.datastore.connectionString is required"},
		{"an unknown datastore", []string{"server.datastore.type=mysql"}, `server.datastore.type "mysql": want sqlite or postgres`},
		{"OIDC without TLS", []string{"server.oidc.enabled=true"}, "server.oidc.tlsSecret is required"},
	} {
		t.Run("refused: "+tc.name, func(t *testing.T) {
			_, err := runHelm(helm, tc.set...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error = %v, want %q", err, tc.want)
			}
		})
	}
}
