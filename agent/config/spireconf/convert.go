package spireconf

import (
	"github.com/lanyard-dev/lanyard/internal/spirehcl"
)

// spireSocket is where SPIRE's agent serves the Workload API unless told otherwise, and
// so where migrated workloads look.
const spireSocket = "/tmp/spire-agent/public/api.sock"

// Convert reads SPIRE's agent configuration src (named file in messages) and returns
// lanyard-agent YAML. Its error is one line for a syntax error, else a *spirehcl.Error
// with one line per key or plugin that cannot be converted.
func Convert(file string, src []byte) ([]byte, error) {
	f, err := spirehcl.Parse(file, src)
	if err != nil {
		return nil, err
	}
	doc := spirehcl.NewDoc(
		"lanyard-agent configuration converted from SPIRE's "+file+" by `lanyard-agent migrate-config`.",
		"Check it with `lanyard-agent validate -config FILE`.")
	root := f.Root
	if a, ok := root.Block("agent"); ok {
		agent(a, doc)
	} else {
		root.Refusef(1, "agent", "block is missing: is this a SPIRE agent configuration? (server files go to lanyard-server migrate-config)")
	}
	plugins(root.Plugins(doc, map[string][]string{
		"KeyManager":       {"disk", "memory"},
		"NodeAttestor":     {"join_token", "k8s_psat", "tpm_devid", "x509pop"},
		"WorkloadAttestor": {"unix", "k8s"},
	}, "WorkloadAttestor"), doc)
	spirehcl.Health(root, doc, "SPIRE's /live and /ready are /healthz and /readyz here (and /metrics): update your probes.")
	root.Refuse("telemetry", "Lanyard serves Prometheus metrics at /metrics on health_address (metric names differ from SPIRE's): remove the block and scrape that")
	root.Done()
	if err := f.Err(); err != nil {
		return nil, err
	}
	return doc.Bytes()
}

func agent(a *spirehcl.Section, doc *spirehcl.Doc) {
	if v, ok := a.String("trust_domain"); ok {
		doc.Set(v, "", "trust_domain")
	} else {
		a.Refusef(a.Line(), "trust_domain", "is required: add trust_domain = \"example.org\"")
	}
	if v, ok := a.String("server_address"); ok {
		doc.Set(v, "", "server_address")
	}
	if v, ok := a.Int("server_port"); ok && spirehcl.Port(a, "server_port", v) {
		doc.Set(v, "", "server_port")
	}
	if v, ok := a.String("data_dir"); ok {
		doc.Set(v, "", "data_dir")
	}
	if v, ok := a.String("socket_path"); ok {
		doc.Set(v, "", "socket_path")
	} else {
		doc.Set(spireSocket, "SPIRE's default, where workloads look; Lanyard's own default is /tmp/lanyard-agent/public/api.sock.", "socket_path")
	}
	if v, ok := a.String("trust_bundle_path"); ok {
		doc.Set(v, "", "trust_bundle_path")
	}
	if v, ok := a.String("trust_bundle_format"); ok && v != "pem" {
		a.Refusef(a.LineOf("trust_bundle_format"), "trust_bundle_format", "%q: Lanyard reads a PEM trust_bundle_path: write the bundle as PEM "+
			"(spire-server bundle show -format pem) and remove trust_bundle_format", v)
	}
	for _, k := range []string{"trust_bundle_url", "trust_bundle_unix_socket", "trust_bundle_spiffe_workload_api"} {
		a.Refuse(k, "Lanyard bootstraps from a trust_bundle_path file only: download the bundle to a file and set trust_bundle_path")
	}
	if v, ok := a.Bool("insecure_bootstrap"); ok && v {
		doc.Set(true, "", "insecure_bootstrap")
	}
	if v, ok := a.String("join_token"); ok && v != "" {
		doc.Set(v, "", "join_token")
	}
	spirehcl.Logging(a, doc)
	if v, ok := a.String("admin_socket_path"); ok {
		doc.Set(v, "Serves SPIRE's agent Logger, Debug and Delegated Identity APIs (lanyard-agent logger|debug).", "admin_socket_path")
	}
	if !a.Has("admin_socket_path") {
		a.Refuse("authorized_delegates", "needs admin_socket_path, where the Delegated Identity API is served: set it or remove authorized_delegates")
	} else if v, ok := a.Strings("authorized_delegates"); ok && len(v) > 0 {
		doc.Set(v, "Callers of the Delegated Identity API, as in SPIRE; the admin socket is mode 0600: delegates run as the agent's user or root.",
			"authorized_delegates")
	}
	if v, ok := a.String("rebootstrap_mode"); ok && v != "never" {
		a.Refusef(a.LineOf("rebootstrap_mode"), "rebootstrap_mode", "%q: Lanyard never re-bootstraps by itself; remove it (to re-bootstrap, empty data_dir and restart)", v)
	}
	if a.Drop("rebootstrap_delay") {
		doc.Note("agent.rebootstrap_delay is dropped: Lanyard never re-bootstraps by itself.")
	}
	spirehcl.FalseOnly(a, "disable_workload_api", "Lanyard always serves the Workload API: remove it")
	spirehcl.FalseOnly(a, "disable_sds_api", "Lanyard always serves SDS beside the Workload API: remove it")
	if v, ok := a.String("workload_x509_svid_key_type"); ok && v != "ec-p256" {
		a.Refusef(a.LineOf("workload_x509_svid_key_type"), "workload_x509_svid_key_type", "%q: Lanyard's workload keys are ec-p256: remove it", v)
	}
	if sds, ok := a.Block("sds"); ok {
		for _, n := range [][2]string{{"default_svid_name", "default"}, {"default_bundle_name", "ROOTCA"}, {"default_all_bundles_name", "ALL"}} {
			if v, ok := sds.String(n[0]); ok && v != n[1] {
				sds.Refusef(sds.LineOf(n[0]), n[0], "%q: Lanyard's SDS names this secret %q, as SPIRE does by default: point Envoy at %q and remove it", v, n[1], n[1])
			}
		}
		spirehcl.FalseOnly(sds, "disable_spiffe_cert_validation", "Lanyard's ALL secret always validates with the SPIFFE validator: remove it")
		sds.Done()
	}
	a.Done()
}
