package spireconf

import (
	"time"

	"github.com/lanyard-dev/lanyard/internal/spirehcl"
)

func (c *converter) federation(f *spirehcl.Section) {
	if be, ok := f.Block("bundle_endpoint"); ok {
		c.bundleEndpoint(be)
	}
	for _, fw := range f.Labeled("federates_with") {
		c.federatesWith(fw)
	}
	f.Done()
}

func (c *converter) bundleEndpoint(be *spirehcl.Section) {
	key := []string{"federation", "bundle_endpoint"}
	c.doc.Map("", key...)
	if v, ok := be.String("address"); ok {
		c.doc.Set(v, "", append(key, "address")...)
	}
	if v, ok := be.Int("port"); ok && spirehcl.Port(be, "port", v) {
		c.doc.Set(v, "", append(key, "port")...)
	} else if !be.Has("port") {
		c.doc.Set(8443, "SPIRE's file set no port (SPIRE then picks a free one); this is Lanyard's default.", append(key, "port")...)
	}
	if d, ok := be.Duration("refresh_hint"); ok {
		if d < time.Second {
			be.Refusef(be.LineOf("refresh_hint"), "refresh_hint", "%s: Lanyard needs at least 1s", d)
		} else {
			c.doc.Set(spirehcl.FormatDuration(d), "", append(key, "refresh_hint")...)
		}
	}
	be.Refuse("acme", acmeRefusal)
	profiles := be.Labeled("profile")
	if len(profiles) > 1 {
		be.Refusef(profiles[1].Line(), "profile", "is given more than once: keep one")
	}
	if len(profiles) > 0 {
		p := profiles[0]
		switch p.Label() {
		case "https_spiffe":
			c.doc.Set("https_spiffe", "", append(key, "profile")...)
		case "https_web":
			c.doc.Set("https_web", "", append(key, "profile")...)
			p.Refuse("acme", acmeRefusal)
			if sc, ok := p.Block("serving_cert_file"); ok {
				if v, ok := sc.String("cert_file_path"); ok {
					c.doc.Set(v, "", append(key, "cert_file")...)
				}
				if v, ok := sc.String("key_file_path"); ok {
					c.doc.Set(v, "", append(key, "key_file")...)
				}
				if sc.Drop("file_sync_interval") {
					c.doc.Note("federation.bundle_endpoint file_sync_interval is dropped: Lanyard re-reads cert_file and key_file when they change.")
				}
				sc.Done()
			} else if !p.Has("acme") {
				p.Refusef(p.Line(), "serving_cert_file", "is required: https_web needs a certificate and key (serving_cert_file { cert_file_path, key_file_path })")
			}
		default:
			be.Refusef(p.Line(), "profile", "%q: use \"https_spiffe\" or \"https_web\"", p.Label())
		}
		p.Done()
	}
	be.Done()
}

const acmeRefusal = "ACME is not built into Lanyard: get the certificate with an ACME client (e.g. certbot) and use " +
	"profile \"https_web\" { serving_cert_file { cert_file_path, key_file_path } }"

func (c *converter) federatesWith(fw *spirehcl.Section) {
	td := fw.Label()
	key := []string{"federation", "federates_with", td}
	if v, ok := fw.String("bundle_endpoint_url"); ok {
		c.doc.Set(v, "", append(key, "bundle_endpoint_url")...)
	} else {
		fw.Refusef(fw.Line(), "bundle_endpoint_url", "is required: the partner's https:// bundle endpoint")
	}
	profiles := fw.Labeled("bundle_endpoint_profile")
	switch {
	case len(profiles) == 0:
		fw.Refusef(fw.Line(), "bundle_endpoint_profile", "is required: bundle_endpoint_profile \"https_spiffe\" { endpoint_spiffe_id = \"...\" } or \"https_web\" {}")
	case len(profiles) > 1:
		fw.Refusef(profiles[1].Line(), "bundle_endpoint_profile", "is given more than once: keep one")
	}
	if len(profiles) == 0 {
		fw.Done()
		return
	}
	p := profiles[0]
	switch p.Label() {
	case "https_spiffe":
		c.doc.Set("https_spiffe", "The first fetch needs "+td+"'s bundle: add trust_bundle_path here, or run\n`lanyard-server bundle set` with it.", append(key, "profile")...)
		if v, ok := p.String("endpoint_spiffe_id"); ok {
			c.doc.Set(v, "", append(key, "endpoint_spiffe_id")...)
		} else {
			p.Refusef(p.Line(), "endpoint_spiffe_id", "is required for https_spiffe, e.g. \"spiffe://%s/spire/server\"", td)
		}
	case "https_web":
		c.doc.Set("https_web", "", append(key, "profile")...)
	default:
		fw.Refusef(p.Line(), "bundle_endpoint_profile", "%q: use \"https_spiffe\" or \"https_web\"", p.Label())
	}
	p.Done()
	fw.Done()
}
