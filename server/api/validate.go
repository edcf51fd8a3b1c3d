package api

import (
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/spire-api-sdk/proto/spire/api/types"

	"github.com/lanyard-dev/lanyard/attestors"
	"github.com/lanyard-dev/lanyard/internal/spireid"
	"github.com/lanyard-dev/lanyard/server/datastore"
)

// Limits on untrusted input. They are generous for real use and stop abuse.
const (
	MaxSVIDBatch      = 500 // CSRs per BatchNewX509SVID (SPIRE's agent sends 100 at most)
	MaxSelectors      = 64
	MaxSelectorLength = 1024
	MaxDNSNames       = 64
	MaxHintLength     = 1024
	MaxFederatesWith  = 64
	MaxTTLSeconds     = 365 * 24 * 3600
)

// ErrInvalid marks a validation error; the API maps it to InvalidArgument.
var ErrInvalid = errors.New("invalid")

func invalidf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}

// ValidateSelectors checks selectors are usable: non-empty type without ':' and non-empty value.
func ValidateSelectors(sels []*types.Selector) ([]attestors.Selector, error) {
	if len(sels) == 0 {
		return nil, invalidf("selectors: at least one selector is required (e.g. unix:uid:1000)")
	}
	if len(sels) > MaxSelectors {
		return nil, invalidf("selectors: %d selectors, at most %d allowed", len(sels), MaxSelectors)
	}
	out := make([]attestors.Selector, 0, len(sels))
	for _, s := range sels {
		switch {
		case s == nil || s.Type == "":
			return nil, invalidf("selectors: selector type is empty (write type:value, e.g. unix:uid:1000)")
		case strings.Contains(s.Type, ":"):
			return nil, invalidf("selectors: selector type %q must not contain ':'", s.Type)
		case s.Value == "":
			return nil, invalidf("selectors: selector %q has an empty value", s.Type)
		case len(s.Type)+len(s.Value) > MaxSelectorLength:
			return nil, invalidf("selectors: selector %s:... is longer than %d bytes", s.Type, MaxSelectorLength)
		case !printable(s.Type) || !printable(s.Value):
			// A newline would print as a second selector in listings and logs.
			return nil, invalidf("selectors: selector %q contains a control character or invalid UTF-8; selectors are one line of printable text", s.Type+":"+s.Value)
		}
		out = append(out, attestors.Selector{Type: s.Type, Value: s.Value})
	}
	return out, nil
}

// printable reports whether s is valid UTF-8 without control characters.
func printable(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	return !strings.ContainsFunc(s, unicode.IsControl)
}

// EntryValidator validates entries against the server's trust domain.
type EntryValidator struct {
	TrustDomain spiffeid.TrustDomain
}

// EntryFromProto validates an API entry and converts it; only masked fields are checked
// and copied (a nil mask means all, as for create).
func (v EntryValidator) EntryFromProto(in *types.Entry, mask *types.EntryMask) (*datastore.Entry, error) {
	if in == nil {
		return nil, invalidf("entry is missing")
	}
	m := EntryMaskFromProto(mask)
	out := &datastore.Entry{ID: in.Id}
	if in.Id != "" {
		if err := validateEntryID(in.Id); err != nil {
			return nil, err
		}
	}
	if m.SPIFFEID {
		id, err := v.memberID("spiffe_id", in.SpiffeId)
		if err != nil {
			return nil, err
		}
		if strings.HasPrefix(id.Path(), "/spire/") || id.Path() == "/spire" || id.Path() == "" {
			return nil, invalidf("spiffe_id %s: the path must not be empty or under /spire (reserved for agents and servers)", id)
		}
		out.SPIFFEID = id.String()
	}
	if m.ParentID {
		id, err := v.memberID("parent_id", in.ParentId)
		if err != nil {
			return nil, err
		}
		out.ParentID = id.String()
	}
	if m.Selectors {
		sels, err := ValidateSelectors(in.Selectors)
		if err != nil {
			return nil, err
		}
		out.Selectors = sels
	}
	if m.X509SVIDTTL {
		if in.X509SvidTtl < 0 || in.X509SvidTtl > MaxTTLSeconds {
			return nil, invalidf("x509_svid_ttl %d: must be between 0 (server default) and %d seconds", in.X509SvidTtl, MaxTTLSeconds)
		}
		out.X509SVIDTTL = in.X509SvidTtl
	}
	if m.JWTSVIDTTL {
		if in.JwtSvidTtl < 0 || in.JwtSvidTtl > MaxTTLSeconds {
			return nil, invalidf("jwt_svid_ttl %d: must be between 0 (server default) and %d seconds", in.JwtSvidTtl, MaxTTLSeconds)
		}
		out.JWTSVIDTTL = in.JwtSvidTtl
	}
	if m.FederatesWith {
		fw, err := v.federatesWith(in.FederatesWith)
		if err != nil {
			return nil, err
		}
		out.FederatesWith = fw
	}
	if m.ExpiresAt {
		if in.ExpiresAt < 0 {
			return nil, invalidf("expires_at %d: must be a unix time in seconds, or 0 for never", in.ExpiresAt)
		}
		out.ExpiresAt = in.ExpiresAt
	}
	if m.DNSNames {
		if len(in.DnsNames) > MaxDNSNames {
			return nil, invalidf("dns_names: %d names, at most %d allowed", len(in.DnsNames), MaxDNSNames)
		}
		for _, name := range in.DnsNames {
			if err := ValidateDNSName(name); err != nil {
				return nil, err
			}
		}
		out.DNSNames = append([]string(nil), in.DnsNames...)
	}
	if m.Hint {
		if len(in.Hint) > MaxHintLength {
			return nil, invalidf("hint: longer than %d bytes", MaxHintLength)
		}
		out.Hint = in.Hint
	}
	out.Admin, out.Downstream, out.StoreSVID = in.Admin, in.Downstream, in.StoreSvid
	return out, nil
}

func (v EntryValidator) memberID(field string, p *types.SPIFFEID) (spiffeid.ID, error) {
	if p == nil || (p.TrustDomain == "" && p.Path == "") {
		return spiffeid.ID{}, invalidf("%s is required", field)
	}
	id, err := spireid.FromProto(p)
	if err != nil {
		return spiffeid.ID{}, invalidf("%s: %v", field, err)
	}
	if !id.MemberOf(v.TrustDomain) {
		return spiffeid.ID{}, invalidf("%s %s: not in this server's trust domain %q", field, id, v.TrustDomain.Name())
	}
	return id, nil
}

func (v EntryValidator) federatesWith(in []string) ([]string, error) {
	if len(in) > MaxFederatesWith {
		return nil, invalidf("federates_with: %d trust domains, at most %d allowed", len(in), MaxFederatesWith)
	}
	out := make([]string, 0, len(in))
	seen := map[string]bool{}
	for _, s := range in {
		name, err := TrustDomainName(s)
		if err != nil {
			return nil, invalidf("federates_with: %v", err)
		}
		if name == v.TrustDomain.Name() {
			return nil, invalidf("federates_with: %q is this server's own trust domain", s)
		}
		if !seen[name] {
			seen[name] = true
			out = append(out, name)
		}
	}
	return out, nil
}

func validateEntryID(id string) error {
	if len(id) > 255 {
		return invalidf("id: longer than 255 characters")
	}
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_.", r)) {
			return invalidf("id %q: only letters, digits, '-', '_' and '.' are allowed", id)
		}
	}
	return nil
}

// ValidateDNSName checks a DNS SAN: letters, digits, hyphens, dots; an optional leading "*." wildcard.
func ValidateDNSName(name string) error {
	host := strings.TrimPrefix(name, "*.")
	if host == "" || len(name) > 253 {
		return invalidf("dns name %q: must be 1 to 253 characters", name)
	}
	labels := strings.Split(host, ".")
	if last := labels[len(labels)-1]; net.ParseIP(host) != nil || last != "" && strings.Trim(last, "0123456789") == "" {
		// Clients read 10.0.0.1 (and even 10.1) as an IP address, which a DNS SAN does not
		// vouch for: IP addresses would need IP SANs, which SVIDs do not carry here.
		return invalidf("dns name %q: reads as an IP address; SVIDs carry DNS names only (no IP SANs): use a DNS name that resolves to it", name)
	}
	for _, label := range labels {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return invalidf("dns name %q: label %q is not a valid DNS label", name, label)
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-') {
				return invalidf("dns name %q: character %q is not allowed", name, r)
			}
		}
	}
	return nil
}

// BundleFromProto validates an API bundle (certificates and keys must parse) and converts it.
func BundleFromProto(in *types.Bundle) (*datastore.Bundle, error) {
	if in == nil {
		return nil, invalidf("bundle is missing")
	}
	name, err := TrustDomainName(in.TrustDomain)
	if err != nil {
		return nil, invalidf("bundle: %v", err)
	}
	out := &datastore.Bundle{TrustDomain: name, RefreshHint: in.RefreshHint, SequenceNumber: in.SequenceNumber}
	for i, a := range in.X509Authorities {
		if a == nil {
			continue
		}
		cert, err := x509.ParseCertificate(a.Asn1)
		if err != nil {
			return nil, invalidf("bundle %s: x509_authorities[%d] is not a DER certificate: %v", name, i, err)
		}
		if err := checkBundleKey(cert.PublicKey); err != nil {
			return nil, invalidf("bundle %s: x509_authorities[%d]: %v", name, i, err)
		}
		out.X509Authorities = append(out.X509Authorities, datastore.X509Authority{DER: a.Asn1, Tainted: a.Tainted})
	}
	for i, k := range in.JwtAuthorities {
		if k == nil {
			continue
		}
		key, err := bundleKeyFromProto(name, "jwt_authorities", i, datastore.JWTKey{KeyID: k.KeyId, PublicKey: k.PublicKey, ExpiresAt: k.ExpiresAt, Tainted: k.Tainted})
		if err != nil {
			return nil, err
		}
		out.JWTAuthorities = append(out.JWTAuthorities, key)
	}
	for i, k := range in.WitAuthorities {
		if k == nil {
			continue
		}
		key, err := bundleKeyFromProto(name, "wit_authorities", i, datastore.JWTKey{KeyID: k.KeyId, PublicKey: k.PublicKey, ExpiresAt: k.ExpiresAt, Tainted: k.Tainted})
		if err != nil {
			return nil, err
		}
		if slices.ContainsFunc(out.JWTAuthorities, func(j datastore.JWTKey) bool { return j.KeyID == key.KeyID }) {
			return nil, invalidf("bundle %s: wit_authorities[%d] has key_id %q, which a JWT authority has too; the WIT-SVID spec (6.1) wants every key ID of a bundle unique", name, i, key.KeyID)
		}
		out.WITAuthorities = append(out.WITAuthorities, key)
	}
	if in.RefreshHint < 0 || in.RefreshHint > MaxTTLSeconds {
		return nil, invalidf("bundle %s: refresh_hint %d: must be between 0 and %d seconds", name, in.RefreshHint, MaxTTLSeconds)
	}
	return out, nil
}

// bundleKeyFromProto checks a JWT or WIT authority (field[i] of the bundle, for messages).
func bundleKeyFromProto(name, field string, i int, k datastore.JWTKey) (datastore.JWTKey, error) {
	if k.KeyID == "" {
		return k, invalidf("bundle %s: %s[%d] has no key_id", name, field, i)
	}
	pub, err := x509.ParsePKIXPublicKey(k.PublicKey)
	if err != nil {
		return k, invalidf("bundle %s: %s[%d] (%s) public key is not PKIX DER: %v", name, field, i, k.KeyID, err)
	}
	if err := checkBundleKey(pub); err != nil {
		return k, invalidf("bundle %s: %s[%d] (%s): %v", name, field, i, k.KeyID, err)
	}
	return k, nil
}
