package spireconf

import (
	"path/filepath"
	"strings"

	"github.com/lanyard-dev/lanyard/internal/spirehcl"
)

func (c *converter) plugins(p map[string][]spirehcl.Plugin) {
	for _, ds := range p["DataStore"] {
		c.datastore(ds.Data)
	}
	for _, km := range p["KeyManager"] {
		c.doc.Set(km.Name, "", "key_manager")
		if km.Data.Drop("keys_path") {
			c.doc.Note("KeyManager \"disk\" keys_path is dropped: Lanyard keeps its keys in data_dir/keys (0600).")
		}
		km.Data.Done()
	}
	joinToken := false
	for _, na := range p["NodeAttestor"] {
		switch na.Name {
		case "join_token":
			joinToken = true
		case "k8s_psat":
			c.k8sPSAT(na.Data)
		case "tpm_devid":
			c.tpmDevID(na.Data)
		case "x509pop":
			c.x509pop(na.Data)
		}
		na.Data.Done()
	}
	if !joinToken {
		c.doc.Note("join_token attestation is always on in Lanyard, although SPIRE's file did not enable it.")
	}
	for _, ua := range p["UpstreamAuthority"] {
		for _, m := range [][2]string{{"cert_file_path", "cert_file"}, {"key_file_path", "key_file"}, {"bundle_file_path", "bundle_file"}} {
			if v, ok := ua.Data.String(m[0]); ok {
				c.doc.Set(v, "", "upstream_authority", m[1])
			} else if m[0] != "bundle_file_path" {
				ua.Data.Refusef(ua.Data.Line(), m[0], "is required: the upstream CA's PEM file")
			}
		}
		ua.Data.Done()
	}
	for _, n := range p["Notifier"] {
		c.k8sBundle(n.Data)
	}
}

func (c *converter) datastore(d *spirehcl.Section) {
	typ, ok := d.String("database_type")
	for _, l := range d.Labeled("database_type") {
		d.Refusef(l.Line(), "database_type", "%q (cloud IAM authentication) is not supported: use database_type = \"postgres\" "+
			"with a password from PGPASSWORD or ~/.pgpass", l.Label())
		ok = false
		l.Done()
	}
	conn, _ := d.String("connection_string")
	switch {
	case !ok:
		if !d.Has("database_type") {
			d.Refusef(d.Line(), "database_type", "is required: sqlite3 or postgres")
		}
	case typ == "sqlite3":
		c.doc.Set("sqlite", "", "datastore", "type")
		if conn != "" {
			path := strings.TrimPrefix(conn, "file:")
			path, _, _ = strings.Cut(path, "?")
			c.doc.Set(filepath.Join(filepath.Dir(path), "lanyard-datastore.sqlite3"),
				"A new file beside SPIRE's "+conn+": Lanyard's tables differ and it cannot\n"+
					"open SPIRE's database. Move entries with `lanyard-server entry create -data` (it reads SPIRE's files).",
				"datastore", "connection_string")
		}
	case typ == "postgres":
		c.doc.Set("postgres", "", "datastore", "type")
		c.doc.Set(conn, "CHANGE the database name: Lanyard needs a database of its own, as some of its table names\n"+
			"(bundles, join_tokens, ca_journals) are SPIRE's too. Move entries with `lanyard-server entry create -data`.",
			"datastore", "connection_string")
	default:
		d.Refusef(d.LineOf("database_type"), "database_type", "%q is not supported: Lanyard stores in sqlite3 or postgres", typ)
	}
	if d.Drop("ro_connection_string") {
		c.doc.Note("DataStore ro_connection_string is dropped: Lanyard reads from connection_string.")
	}
	spirehcl.FalseOnly(d, "disable_migration", "Lanyard migrates its own schema at start (servers sharing a database wait for each other): remove it")
	spirehcl.FalseOnly(d, "log_sql", "Lanyard does not log SQL statements: remove it")
	c.pool(d, typ == "postgres")
	d.Done()
}

func (c *converter) pool(d *spirehcl.Section, postgres bool) {
	dropped := false
	for _, k := range []string{"max_open_conns", "max_idle_conns"} {
		if v, ok := d.Int(k); ok {
			if postgres && v >= 0 {
				c.doc.Set(v, "", "datastore", k)
			}
			dropped = dropped || !postgres
		}
	}
	if v, ok := d.Duration("conn_max_lifetime"); ok {
		if postgres && v > 0 {
			c.doc.Set(spirehcl.FormatDuration(v), "", "datastore", "conn_max_lifetime")
		}
		dropped = dropped || !postgres
	}
	if dropped {
		c.doc.Note("DataStore pool settings are dropped: Lanyard's SQLite datastore has none.")
	}
}

func (c *converter) k8sPSAT(d *spirehcl.Section) {
	clusters, ok := d.Block("clusters")
	if !ok {
		d.Refusef(d.Line(), "clusters", "is required: clusters = { \"name\" = { service_account_allow_list = [\"ns:sa\"] } }")
		return
	}
	base := []string{"node_attestors", "k8s_psat", "clusters"}
	entries := clusters.Entries()
	if len(entries) == 0 {
		d.Refusef(clusters.Line(), "clusters", "is empty: name at least one cluster, or remove the k8s_psat plugin")
	}
	for _, cl := range entries {
		key := append(append([]string{}, base...), cl.Label())
		c.doc.Map("", key...)
		if v, ok := cl.Strings("service_account_allow_list"); ok {
			c.doc.Set(v, "", append(key, "service_account_allow_list")...)
		}
		if v, ok := cl.Strings("audience"); ok {
			c.doc.Set(v, "", append(key, "audience")...)
		}
		if v, ok := cl.String("kube_config_file"); ok && v != "" {
			c.doc.Set(v, "", append(key, "kubeconfig_path")...)
		}
		for _, k := range []string{"allowed_node_label_keys", "allowed_pod_label_keys"} {
			if v, ok := cl.Strings(k); ok && len(v) > 0 {
				c.doc.Set(v, "", append(key, k)...)
			}
		}
		spirehcl.FalseOnly(cl, "use_pod_uid_for_agent_id", "Lanyard's k8s_psat agent IDs end with the node UID: remove it")
		cl.Done()
	}
	clusters.Done()
}

// k8sBundle writes SPIRE's defaults out, as Lanyard's differ or are required.
func (c *converter) k8sBundle(d *spirehcl.Section) {
	for _, m := range [][3]string{{"namespace", "namespace", "spire"}, {"config_map", "config_map", "spire-bundle"},
		{"config_map_key", "key", "bundle.crt"}} {
		v, ok := d.String(m[0])
		if !ok {
			v = m[2]
		}
		c.doc.Set(v, "", "kubernetes_bundle", m[1])
	}
	if v, ok := d.String("kube_config_file_path"); ok && v != "" {
		c.doc.Set(v, "", "kubernetes_bundle", "kubeconfig_path")
	}
	d.Refuse("clusters", "Lanyard publishes to one cluster: keep the main one, run a lanyard-server per other cluster or copy the ConfigMap")
	d.Done()
}
