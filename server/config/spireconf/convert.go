package spireconf

import (
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/lanyard-dev/lanyard/internal/spirehcl"
)

// Convert reads SPIRE's server configuration src (named file in messages) and returns
// lanyard-server YAML. Its error is one line for a syntax error, else a *spirehcl.Error
// with one line per key or plugin that cannot be converted.
func Convert(file string, src []byte) ([]byte, error) {
	f, err := spirehcl.Parse(file, src)
	if err != nil {
		return nil, err
	}
	c := &converter{doc: spirehcl.NewDoc(
		"lanyard-server configuration converted from SPIRE's "+file+" by `lanyard-server migrate-config`.",
		"Lanyard starts with its own datastore and CA keys: SPIRE's are not read. Check this file with",
		"`lanyard-server validate -config FILE`.")}
	root := f.Root
	if srv, ok := root.Block("server"); ok {
		c.server(srv)
	} else {
		root.Refusef(1, "server", "block is missing: is this a SPIRE server configuration? (agent files go to lanyard-agent migrate-config)")
	}
	c.plugins(root.Plugins(c.doc, map[string][]string{
		"DataStore":         {"sql"},
		"KeyManager":        {"disk", "memory"},
		"NodeAttestor":      {"join_token", "k8s_psat", "tpm_devid", "x509pop"},
		"Notifier":          {"k8sbundle"},
		"UpstreamAuthority": {"disk"},
	}, "NodeAttestor"))
	spirehcl.Health(root, c.doc, "SPIRE's /live and /ready are /healthz and /readyz here (and /metrics): update your probes.")
	root.Refuse("telemetry", "Lanyard serves Prometheus metrics at /metrics on health_address (metric names differ from SPIRE's): remove the block and scrape that")
	root.Done()
	if err := f.Err(); err != nil {
		return nil, err
	}
	return c.doc.Bytes()
}

type converter struct {
	doc *spirehcl.Doc
	td  string
}

func (c *converter) server(s *spirehcl.Section) {
	if td, ok := s.String("trust_domain"); ok {
		c.td = td
		c.doc.Set(td, "", "trust_domain")
	} else {
		s.Refusef(s.Line(), "trust_domain", "is required: add trust_domain = \"example.org\"")
	}
	if v, ok := s.String("data_dir"); ok {
		c.doc.Set(v, "", "data_dir")
	}
	if v, ok := s.String("bind_address"); ok {
		if net.ParseIP(v) == nil {
			s.Refusef(s.LineOf("bind_address"), "bind_address", "%q: Lanyard binds to an IP address: write the IP the name stands for, or 0.0.0.0", v)
		} else {
			c.doc.Set(v, "", "bind_address")
		}
	} else {
		c.doc.Set("0.0.0.0", "SPIRE's default; Lanyard's own default is 127.0.0.1.", "bind_address")
	}
	if v, ok := s.Int("bind_port"); ok {
		c.doc.Set(v, "", "bind_port")
	}
	if v, ok := s.String("socket_path"); ok {
		c.doc.Set(v, "SPIRE's socket_path. The CLI takes -socketPath as SPIRE's does.", "admin_socket_path")
	}
	c.keyTypes(s)
	c.ttls(s)
	if v, ok := s.String("jwt_issuer"); ok {
		c.doc.Set(v, "", "jwt_issuer")
		if u, err := url.Parse(v); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			c.doc.Set("", "OIDC discovery is off: Lanyard's needs jwt_issuer to be an http(s) URL.", "oidc", "address")
		}
	}
	spirehcl.Logging(s, c.doc)
	s.Refuse("admin_ids", "Lanyard has no admin_ids: give those workloads registration entries with -admin instead")
	s.Refuse("default_svid_ttl", "was renamed default_x509_svid_ttl in SPIRE: rename it")
	if s.Drop("ca_subject") {
		c.doc.Note("server.ca_subject is dropped: Lanyard sets the subject of its CA certificates itself (SVID checks do not use it).")
	}
	spirehcl.FalseOnly(s, "audit_log_enabled", "Lanyard has no audit log: remove it")
	spirehcl.FalseOnly(s, "disable_jwt_svids", "Lanyard always signs JWT-SVIDs: remove it")
	if fed, ok := s.Block("federation"); ok {
		c.federation(fed)
	}
	s.Done()
}

var keyTypes = []string{"ec-p256", "ec-p384", "rsa-2048", "rsa-4096"}

func (c *converter) keyTypes(s *spirehcl.Section) {
	caType, caSet := s.String("ca_key_type")
	if caSet && !slices.Contains(keyTypes, caType) {
		s.Refusef(s.LineOf("ca_key_type"), "ca_key_type", "%q: use one of %s", caType, strings.Join(keyTypes, ", "))
		caSet = false
	}
	if caSet {
		c.doc.Set(caType, "", "ca_key_type")
	}
	if v, ok := s.String("jwt_key_type"); ok {
		if !slices.Contains(keyTypes, v) {
			s.Refusef(s.LineOf("jwt_key_type"), "jwt_key_type", "%q: use one of %s", v, strings.Join(keyTypes, ", "))
		} else {
			c.doc.Set(v, "", "jwt_key_type")
		}
	} else if caSet {
		c.doc.Set(caType, "SPIRE's ca_key_type also chose the JWT key; Lanyard's covers X.509 only.", "jwt_key_type")
	}
}

// ttls maps the lifetimes. SPIRE cuts an SVID short at its CA's expiry; Lanyard refuses
// a TTL above ca_ttl instead, so such values become ca_ttl.
func (c *converter) ttls(s *spirehcl.Section) {
	caTTL, caSet := s.Duration("ca_ttl")
	if caSet {
		if caTTL < time.Minute {
			s.Refusef(s.LineOf("ca_ttl"), "ca_ttl", "%s: Lanyard needs at least 1m", caTTL)
		} else {
			c.doc.Set(spirehcl.FormatDuration(caTTL), "", "ca_ttl")
		}
	} else {
		caTTL = 24 * time.Hour
	}
	x509TTL, x509Set := s.Duration("default_x509_svid_ttl")
	agentTTL, agentSet := s.Duration("agent_ttl")
	if !agentSet && x509Set {
		agentTTL, agentSet = x509TTL, true
		c.doc.Set(spirehcl.FormatDuration(min(x509TTL, caTTL)), "SPIRE's agent_ttl defaults to default_x509_svid_ttl; Lanyard's to 1h.", "agent_ttl")
	}
	jwtTTL, jwtSet := s.Duration("default_jwt_svid_ttl")
	for _, t := range []struct {
		key string
		d   time.Duration
		set bool
	}{{"default_x509_svid_ttl", x509TTL, x509Set}, {"default_jwt_svid_ttl", jwtTTL, jwtSet}, {"agent_ttl", agentTTL, agentSet}} {
		switch {
		case !t.set || !s.Has(t.key):
		case t.d < 10*time.Second:
			s.Refusef(s.LineOf(t.key), t.key, "%s: Lanyard needs at least 10s", t.d)
		case t.d > caTTL:
			c.doc.Set(spirehcl.FormatDuration(caTTL), fmt.Sprintf("SPIRE's %s (%s) exceeds ca_ttl: SPIRE cuts SVIDs short at the CA's expiry, Lanyard\nrefuses such a TTL, so this is ca_ttl.", t.key, t.d), t.key)
		default:
			c.doc.Set(spirehcl.FormatDuration(t.d), "", t.key)
		}
	}
}
