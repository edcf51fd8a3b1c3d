package verifier

import (
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/lanyard-dev/lanyard/attestors"
	"github.com/lanyard-dev/lanyard/attestors/x509pop"
)

// verifyChain checks the leaf chains to the trusted CAs through the intermediates sent,
// at the clock's time, and returns the chains found.
func (v *Verifier) verifyChain(leaf *x509.Certificate, rest []*x509.Certificate) ([][]*x509.Certificate, error) {
	if len(rest) > v.cfg.MaxIntermediates {
		return nil, reject("%d intermediate certificates sent, over the server's max_intermediates of %d", len(rest), v.cfg.MaxIntermediates)
	}
	for i, c := range append([]*x509.Certificate{leaf}, rest...) {
		if k, ok := c.PublicKey.(*rsa.PublicKey); ok && k.N.BitLen() > v.cfg.MaxRSAKeySize {
			return nil, reject("certificate %d has a %d-bit RSA key, over the server's max_rsa_key_size of %d", i, k.N.BitLen(), v.cfg.MaxRSAKeySize)
		}
	}
	now := v.cfg.Clock.Now()
	switch {
	case now.After(leaf.NotAfter):
		return nil, reject("%s expired at %s: renew it", describe(leaf), leaf.NotAfter.UTC().Format(time.RFC3339))
	case now.Before(leaf.NotBefore):
		return nil, reject("%s is not valid until %s: check the node's and the server's clocks", describe(leaf), leaf.NotBefore.UTC().Format(time.RFC3339))
	}
	roots, where, err := v.trusted()
	if err != nil {
		return nil, err
	}
	inter := x509.NewCertPool()
	for _, c := range rest {
		inter.AddCert(c)
	}
	chains, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, CurrentTime: now,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
	if err != nil {
		var unknown x509.UnknownAuthorityError
		if errors.As(err, &unknown) {
			return nil, reject("%s, issued by %q, does not chain to a CA in %s: add its CA there, or send the intermediates (the agent's intermediates_path)",
				describe(leaf), leaf.Issuer.String(), where)
		}
		return nil, reject("%s does not verify against %s: %v", describe(leaf), where, err)
	}
	return chains, nil
}

// trusted returns the roots of the mode and where they come from, for messages.
func (v *Verifier) trusted() (*x509.CertPool, string, error) {
	if v.cfg.Mode != ModeSPIFFE {
		return v.roots, "node_attestors.x509pop.ca_bundle_path(s)", nil
	}
	b, err := v.cfg.Bundle.GetX509BundleForTrustDomain(v.cfg.TrustDomain)
	if err != nil {
		return nil, "", errors.New("x509pop: reading the server's trust bundle: " + err.Error())
	}
	pool := x509.NewCertPool()
	for _, c := range b.X509Authorities() {
		pool.AddCert(c)
	}
	return pool, "the server's trust bundle (spiffe mode)", nil
}

// svidPath is, in spiffe mode, the path of the leaf's SPIFFE ID after svid_prefix.
func (v *Verifier) svidPath(leaf *x509.Certificate) (string, error) {
	if v.cfg.Mode != ModeSPIFFE {
		return "", nil
	}
	var id *url.URL
	for _, u := range leaf.URIs {
		if u.Scheme == "spiffe" {
			id = u
			break
		}
	}
	if id == nil {
		return "", reject("%s has no SPIFFE ID: spiffe mode exchanges X.509-SVIDs", describe(leaf))
	}
	prefix := *v.cfg.SVIDPrefix
	path := id.EscapedPath()
	if !strings.HasPrefix(path, prefix) {
		return "", reject("SVID %s is not under svid_prefix %q", id, prefix)
	}
	return strings.TrimPrefix(path, prefix), nil
}

// sanSelectors reads the leaf's URI SANs x509pop://TD/<key>/<value> into key → value.
func sanSelectors(td spiffeid.TrustDomain, leaf *x509.Certificate) map[string]string {
	sans := map[string]string{}
	for _, u := range leaf.URIs {
		if u.Scheme != x509pop.Type || u.Host != td.Name() {
			continue
		}
		k, val, ok := strings.Cut(strings.Trim(u.Path, "/"), "/")
		if ok && k != "" && val != "" {
			sans[k] = val
		}
	}
	return sans
}

// selectors are SPIRE's x509pop selectors: subject:cn, ca:fingerprint of every CA on
// the chains found (leaf excluded), serialnumber, san:<key>:<value>.
func selectors(leaf *x509.Certificate, chains [][]*x509.Certificate, sans map[string]string) []attestors.Selector {
	var sels []attestors.Selector
	add := func(v string) { sels = append(sels, attestors.Selector{Type: x509pop.Type, Value: v}) }
	if leaf.Subject.CommonName != "" {
		add("subject:cn:" + leaf.Subject.CommonName)
	}
	for _, fp := range attestors.CAFingerprints(chains) {
		add("ca:fingerprint:" + fp)
	}
	add("serialnumber:" + x509pop.SerialNumberHex(leaf.SerialNumber))
	keys := make([]string, 0, len(sans))
	for k := range sans {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		add("san:" + k + ":" + sans[k])
	}
	return sels
}
