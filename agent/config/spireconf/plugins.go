package spireconf

import (
	"github.com/lanyard-dev/lanyard/internal/spirehcl"
)

func plugins(p map[string][]spirehcl.Plugin, doc *spirehcl.Doc) {
	for _, na := range p["NodeAttestor"] {
		doc.Set(na.Name, "", "node_attestor")
		if na.Name == "k8s_psat" {
			if v, ok := na.Data.String("cluster"); ok {
				doc.Set(v, "", "k8s_psat", "cluster")
			} else {
				na.Data.Refusef(na.Data.Line(), "cluster", "is required: the cluster name the server's k8s_psat clusters use")
			}
			if v, ok := na.Data.String("token_path"); ok {
				doc.Set(v, "", "k8s_psat", "token_path")
			}
		}
		if na.Name == "tpm_devid" {
			tpmDevID(na.Data, doc)
		}
		if na.Name == "x509pop" {
			x509pop(na.Data, doc)
		}
		na.Data.Done()
	}
	for _, km := range p["KeyManager"] {
		km.Data.Drop("directory")
		km.Data.Done()
		doc.Note("KeyManager \"" + km.Name + "\" has no Lanyard setting: the agent keeps its SVID and key in data_dir (key 0600).")
	}
	unix := false
	for _, wa := range p["WorkloadAttestor"] {
		switch wa.Name {
		case "unix":
			unix = true
			if v, ok := wa.Data.Bool("discover_workload_path"); ok {
				doc.Set(v, "", "workload_attestors", "unix", "discover_workload_path")
			} else {
				doc.Set(false, "SPIRE's default; Lanyard's is true.", "workload_attestors", "unix", "discover_workload_path")
			}
			if n, ok := wa.Data.Int("workload_size_limit"); ok && n != 0 {
				wa.Data.Refusef(wa.Data.LineOf("workload_size_limit"), "workload_size_limit", "%d: Lanyard hashes workload binaries without a size limit: remove it", n)
			}
		case "k8s":
			k8s(wa.Data, doc)
		}
		wa.Data.Done()
	}
	if !unix {
		doc.Note("The unix workload attestor is always on in Lanyard, although SPIRE's file did not enable it (unix:uid, unix:gid, ... selectors).")
	}
}

func k8s(d *spirehcl.Section, doc *spirehcl.Doc) {
	key := []string{"workload_attestors", "k8s"}
	doc.Map("", key...)
	for _, k := range []string{"kubelet_read_only_port", "kubelet_secure_port"} {
		if v, ok := d.Int(k); ok && spirehcl.Port(d, k, v) {
			doc.Set(v, "", append(key, k)...)
		}
	}
	for _, k := range []string{"kubelet_ca_path", "token_path", "node_name_env", "node_name"} {
		if v, ok := d.String(k); ok && v != "" {
			doc.Set(v, "", append(key, k)...)
		}
	}
	if v, ok := d.Bool("skip_kubelet_verification"); ok && v {
		doc.Set(true, "", append(key, "skip_kubelet_verification")...)
	}
	for _, k := range []string{"certificate_path", "private_key_path", "use_anonymous_authentication"} {
		d.Refuse(k, "Lanyard authenticates to the kubelet with the bearer token at token_path only: remove it")
	}
	spirehcl.FalseOnly(d, "disable_kubelet_client", "Lanyard's k8s attestor needs the kubelet: remove it")
	spirehcl.FalseOnly(d, "disable_container_selectors", "Lanyard always produces container selectors: remove it")
	for _, k := range []string{"use_new_container_locator", "verbose_container_locator_logs"} {
		if d.Drop(k) {
			doc.Note(d.Key(k) + " is dropped: Lanyard finds containers in cgroups v1 and v2 by itself.")
		}
	}
	d.Refuse("sigstore", "Lanyard does not check image signatures: remove the block")
}
