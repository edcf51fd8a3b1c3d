package api

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/spire-api-sdk/proto/spire/api/types"
	"google.golang.org/protobuf/proto"

	"github.com/lanyard-dev/lanyard/internal/bundleconv"
	"github.com/lanyard-dev/lanyard/internal/testca"
	"github.com/lanyard-dev/lanyard/server/datastore"
)

// FuzzParseCSR feeds raw DER to ParseCSR, as BatchNewX509SVID, NewJWTSVID's agent
// renewal and AttestAgent receive it. Most mutations break the self-signature; what
// passes must satisfy what the signer relies on.
func FuzzParseCSR(f *testing.F) {
	f.Add(makeCSR(f, "spiffe://example.org/web"), "spiffe://example.org/web")
	f.Add(makeCSR(f), "")
	f.Add(makeCSR(f, "spiffe://example.org/a", "spiffe://example.org/b"), "spiffe://example.org/a")
	f.Add(makeCSR(f, "spiffe://example.org/web"), "spiffe://example.org/other")
	f.Add([]byte("garbage"), "")
	f.Fuzz(func(t *testing.T, der []byte, want string) {
		wantID, _ := spiffeid.FromString(want) // an invalid want is the zero ID: no check
		csr, err := ParseCSR(der, wantID)
		if err != nil {
			return
		}
		checkAcceptedCSR(t, csr, wantID)
	})
}

// FuzzCSRURIs signs CSRs naming fuzzed URI SANs with a valid key, so the checks after the
// signature see arbitrary SANs.
func FuzzCSRURIs(f *testing.F) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		f.Fatal(err)
	}
	f.Add("spiffe://example.org/web", "", "spiffe://example.org/web")
	f.Add("spiffe://example.org/web", "spiffe://example.org/db", "")
	f.Add("spiffe://EXAMPLE.org/web", "", "spiffe://example.org/web")
	f.Add("spiffe://example.org/web/", "", "spiffe://example.org/web/")
	f.Add("spiffe://example.org/w%20eb", "", "spiffe://example.org/w%20eb")
	f.Add("spiffe://example.org:8080/web", "", "")
	f.Add("spiffe://user@example.org/web", "", "")
	f.Add("spiffe://example.org/web?q=1#frag", "", "")
	f.Add("https://example.org/web", "", "")
	f.Fuzz(func(t *testing.T, uri1, uri2, want string) {
		tmpl := &x509.CertificateRequest{}
		for _, s := range []string{uri1, uri2} {
			if s == "" {
				continue
			}
			u, err := url.Parse(s)
			if err != nil {
				return
			}
			tmpl.URIs = append(tmpl.URIs, u)
		}
		der, err := x509.CreateCertificateRequest(rand.Reader, tmpl, key)
		if err != nil {
			return
		}
		wantID, _ := spiffeid.FromString(want)
		csr, err := ParseCSR(der, wantID)
		if err != nil {
			return
		}
		checkAcceptedCSR(t, csr, wantID)
	})
}

// checkAcceptedCSR asserts what the signer relies on in an accepted CSR: a verified
// signature, an allowed key, at most one URI SAN, and that SAN (when a SPIFFE ID) equal
// to the one asked for, in the canonical form the certificate will carry.
func checkAcceptedCSR(t *testing.T, csr *x509.CertificateRequest, want spiffeid.ID) {
	t.Helper()
	if err := csr.CheckSignature(); err != nil {
		t.Fatalf("accepted a CSR whose signature does not verify: %v", err)
	}
	if _, err := x509.MarshalPKIXPublicKey(csr.PublicKey); err != nil {
		t.Fatalf("accepted a CSR whose key cannot go into a certificate: %v", err)
	}
	if len(csr.URIs) > 1 {
		t.Fatalf("accepted a CSR with %d URI SANs", len(csr.URIs))
	}
	if len(csr.URIs) == 0 {
		return
	}
	id, err := CSRID(csr)
	if !want.IsZero() && (err != nil || id != want) {
		t.Fatalf("accepted a CSR naming %q for %q (CSRID %q, %v)", csr.URIs[0], want, id, err)
	}
	if err == nil && id.String() != csr.URIs[0].String() {
		t.Fatalf("CSRID %q is not the URI SAN %q it was read from", id, csr.URIs[0])
	}
}

// Bits of FuzzEntryFromProto's mask argument; maskNil asks for a nil mask (create).
const (
	maskNil = 1 << iota
	maskSPIFFEID
	maskParentID
	maskSelectors
	maskX509TTL
	maskJWTTTL
	maskFederatesWith
	maskExpiresAt
	maskDNSNames
	maskHint
)

func entryMask(bits uint16) *types.EntryMask {
	if bits&maskNil != 0 {
		return nil
	}
	return &types.EntryMask{
		SpiffeId: bits&maskSPIFFEID != 0, ParentId: bits&maskParentID != 0, Selectors: bits&maskSelectors != 0,
		X509SvidTtl: bits&maskX509TTL != 0, JwtSvidTtl: bits&maskJWTTTL != 0, FederatesWith: bits&maskFederatesWith != 0,
		ExpiresAt: bits&maskExpiresAt != 0, DnsNames: bits&maskDNSNames != 0, Hint: bits&maskHint != 0,
	}
}

// FuzzEntryFromProto feeds entries in protobuf wire form (what BatchCreateEntry and
// BatchUpdateEntry receive) through the validator. Accepted entries must hold the
// invariants the datastore, the entry cache and the CA rely on, and validating the
// stored form again must give the same entry.
func FuzzEntryFromProto(f *testing.F) {
	for _, e := range []*types.Entry{
		goodEntry(),
		{Id: "my-entry.1", SpiffeId: &types.SPIFFEID{TrustDomain: "example.org", Path: "/ns/shop/sa/web"},
			ParentId:    &types.SPIFFEID{TrustDomain: "example.org", Path: "/spire/agent/k8s_psat/prod/1234"},
			Selectors:   []*types.Selector{{Type: "k8s", Value: "ns:shop"}, {Type: "k8s", Value: "sa:web"}},
			X509SvidTtl: 3600, JwtSvidTtl: 300, ExpiresAt: 1893456000, Hint: "internal", Admin: true},
		{SpiffeId: &types.SPIFFEID{TrustDomain: "example.org", Path: "/spire/agent/x"},
			ParentId: &types.SPIFFEID{TrustDomain: "example.org", Path: "/spire/server"}, Selectors: []*types.Selector{{Type: "unix", Value: "uid:0"}}},
		{SpiffeId: &types.SPIFFEID{TrustDomain: "spiffe://example.org", Path: "/web"},
			ParentId: &types.SPIFFEID{TrustDomain: "example.org", Path: "/p"}, Selectors: []*types.Selector{{Type: "unix", Value: "uid:1000\nunix:uid:0"}},
			DnsNames: []string{"10.0.0.1", "*.example.org"}},
	} {
		wire, err := proto.Marshal(e)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(wire, uint16(maskNil))
		f.Add(wire, uint16(maskSelectors|maskDNSNames))
	}
	v := EntryValidator{TrustDomain: td}
	f.Fuzz(func(t *testing.T, wire []byte, bits uint16) {
		var in types.Entry
		if proto.Unmarshal(wire, &in) != nil {
			return
		}
		mask := entryMask(bits)
		out, err := v.EntryFromProto(&in, mask)
		if err != nil {
			return
		}
		checkAcceptedEntry(t, out, EntryMaskFromProto(mask))
		again, err := v.EntryFromProto(EntryToProto(out, nil), mask)
		if err != nil {
			t.Fatalf("the stored form of an accepted entry is refused: %v\nentry: %+v", err, out)
		}
		if !reflect.DeepEqual(again, out) {
			t.Fatalf("validating the stored form changes the entry:\n first %+v\nsecond %+v", out, again)
		}
	})
}

func checkAcceptedEntry(t *testing.T, e *datastore.Entry, m datastore.EntryMask) {
	t.Helper()
	if e.ID != "" && validateEntryID(e.ID) != nil {
		t.Fatalf("accepted entry ID %q", e.ID)
	}
	for field, s := range map[string]string{"spiffe_id": e.SPIFFEID, "parent_id": e.ParentID} {
		if (field == "spiffe_id" && !m.SPIFFEID) || (field == "parent_id" && !m.ParentID) {
			continue
		}
		id, err := spiffeid.FromString(s)
		switch {
		case err != nil:
			t.Fatalf("accepted %s %q that does not parse: %v", field, s, err)
		case id.String() != s:
			t.Fatalf("stored %s %q is not canonical (%q)", field, s, id)
		case !id.MemberOf(td):
			t.Fatalf("accepted %s %q outside %s", field, s, td)
		case field == "spiffe_id" && (id.Path() == "" || id.Path() == "/spire" || strings.HasPrefix(id.Path(), "/spire/")):
			t.Fatalf("accepted reserved spiffe_id %q", s)
		}
	}
	if m.Selectors && len(e.Selectors) == 0 {
		t.Fatal("accepted an entry without selectors")
	}
	for _, s := range e.Selectors {
		// Selectors are written and read back as "type:value", split at the first colon.
		typ, value, ok := strings.Cut(s.Type+":"+s.Value, ":")
		if !ok || typ != s.Type || value != s.Value || typ == "" || value == "" {
			t.Fatalf("selector %q:%q does not survive type:value", s.Type, s.Value)
		}
	}
	if e.X509SVIDTTL < 0 || e.X509SVIDTTL > MaxTTLSeconds || e.JWTSVIDTTL < 0 || e.JWTSVIDTTL > MaxTTLSeconds || e.ExpiresAt < 0 {
		t.Fatalf("accepted TTLs %d/%d, expiry %d", e.X509SVIDTTL, e.JWTSVIDTTL, e.ExpiresAt)
	}
	seen := map[string]bool{}
	for _, name := range e.FederatesWith {
		got, err := spiffeid.TrustDomainFromString(name)
		if err != nil || got.Name() != name || got == td || seen[name] {
			t.Fatalf("federates_with %q accepted (parse error %v, own %v, repeated %v)", name, err, got == td, seen[name])
		}
		seen[name] = true
	}
	for _, name := range e.DNSNames {
		if name == "" || len(name) > 253 || strings.ContainsAny(name, " /:@\x00") {
			t.Fatalf("accepted DNS name %q", name)
		}
	}
	if len(e.Hint) > MaxHintLength {
		t.Fatalf("accepted a %d byte hint", len(e.Hint))
	}
}

// FuzzBundleFromProto feeds bundles in protobuf wire form (BatchSetFederatedBundle,
// AppendBundle) to BundleFromProto. An accepted bundle must be servable: the federation
// endpoint, `bundle show -format spiffe` and the agents turn it into a SPIFFE bundle
// document.
func FuzzBundleFromProto(f *testing.F) {
	ca, _ := testca.New(f, "partner CA", nil, nil, time.Now().Add(24*time.Hour))
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		f.Fatal(err)
	}
	pkix, err := x509.MarshalPKIXPublicKey(key.Public())
	if err != nil {
		f.Fatal(err)
	}
	for _, b := range []*types.Bundle{
		{TrustDomain: "partner.org", X509Authorities: []*types.X509Certificate{{Asn1: ca.Raw}},
			JwtAuthorities: []*types.JWTKey{{KeyId: "k1", PublicKey: pkix, ExpiresAt: 1893456000}}, RefreshHint: 300, SequenceNumber: 7},
		{TrustDomain: "spiffe://partner.org", X509Authorities: []*types.X509Certificate{{Asn1: ca.Raw, Tainted: true}}},
		{TrustDomain: "partner.org", JwtAuthorities: []*types.JWTKey{{KeyId: "", PublicKey: pkix}}},
		{TrustDomain: "partner.org", RefreshHint: 9223372037},
	} {
		wire, err := proto.Marshal(b)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(wire)
	}
	// Regression seeds: keys x509 parses that a JWKS cannot hold.
	for name, pub := range oddKeys(f) {
		der, err := x509.MarshalPKIXPublicKey(pub)
		if err != nil {
			f.Fatal(err)
		}
		b := &types.Bundle{TrustDomain: "partner.org", JwtAuthorities: []*types.JWTKey{{KeyId: name, PublicKey: der}}}
		if name == "P-224" {
			b.X509Authorities = []*types.X509Certificate{{Asn1: certWithKey(f, pub)}}
		}
		wire, err := proto.Marshal(b)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(wire)
	}
	f.Fuzz(func(t *testing.T, wire []byte) {
		var in types.Bundle
		if proto.Unmarshal(wire, &in) != nil {
			return
		}
		out, err := BundleFromProto(&in)
		if err != nil {
			return
		}
		pb := BundleToProto(out, nil)
		sb, err := bundleconv.ToSPIFFE(pb)
		if err != nil {
			t.Fatalf("accepted a bundle that cannot be converted to a SPIFFE bundle: %v", err)
		}
		if _, err := sb.Marshal(); err != nil {
			t.Fatalf("accepted a bundle that cannot be served as a SPIFFE bundle document: %v", err)
		}
		if hint, _ := sb.RefreshHint(); hint != time.Duration(out.RefreshHint)*time.Second || hint < 0 || int64(hint/time.Second) != out.RefreshHint {
			t.Fatalf("refresh_hint %d s is published as %s", out.RefreshHint, hint)
		}
		again, err := BundleFromProto(pb)
		if err != nil || !reflect.DeepEqual(again, out) {
			t.Fatalf("the stored form of an accepted bundle does not validate to itself (%v):\n first %+v\nsecond %+v", err, out, again)
		}
		for i, a := range out.X509Authorities {
			if c, err := x509.ParseCertificate(a.DER); err != nil || !bytes.Equal(c.Raw, a.DER) {
				t.Fatalf("x509 authority %d: accepted DER that does not parse to itself: %v", i, err)
			}
		}
	})
}
