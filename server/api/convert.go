package api

import (
	"crypto/x509"
	"fmt"
	"strings"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/spire-api-sdk/proto/spire/api/types"

	"github.com/lanyard-dev/lanyard/attestors"
	"github.com/lanyard-dev/lanyard/internal/spireid"
	"github.com/lanyard-dev/lanyard/server/datastore"
)

// StringToProtoID converts a stored spiffe:// string; invalid strings give an empty ID.
func StringToProtoID(s string) *types.SPIFFEID {
	id, err := spiffeid.FromString(s)
	if err != nil {
		return &types.SPIFFEID{}
	}
	return spireid.ToProto(id)
}

// SelectorsToProto converts stored selectors.
func SelectorsToProto(in []attestors.Selector) []*types.Selector {
	out := make([]*types.Selector, len(in))
	for i, s := range in {
		out[i] = &types.Selector{Type: s.Type, Value: s.Value}
	}
	return out
}

// SelectorsFromProto converts API selectors without validating them.
func SelectorsFromProto(in []*types.Selector) []attestors.Selector {
	out := make([]attestors.Selector, 0, len(in))
	for _, s := range in {
		if s != nil {
			out = append(out, attestors.Selector{Type: s.Type, Value: s.Value})
		}
	}
	return out
}

// EntryToProto converts a stored entry, keeping only the fields in mask (nil mask: all).
func EntryToProto(e *datastore.Entry, mask *types.EntryMask) *types.Entry {
	all := mask == nil
	out := &types.Entry{Id: e.ID}
	if all || mask.SpiffeId {
		out.SpiffeId = StringToProtoID(e.SPIFFEID)
	}
	if all || mask.ParentId {
		out.ParentId = StringToProtoID(e.ParentID)
	}
	if all || mask.Selectors {
		out.Selectors = SelectorsToProto(e.Selectors)
	}
	if all || mask.X509SvidTtl {
		out.X509SvidTtl = e.X509SVIDTTL
	}
	if all || mask.JwtSvidTtl {
		out.JwtSvidTtl = e.JWTSVIDTTL
	}
	if all || mask.FederatesWith {
		out.FederatesWith = append([]string(nil), e.FederatesWith...)
	}
	if all || mask.Admin {
		out.Admin = e.Admin
	}
	if all || mask.Downstream {
		out.Downstream = e.Downstream
	}
	if all || mask.ExpiresAt {
		out.ExpiresAt = e.ExpiresAt
	}
	if all || mask.DnsNames {
		out.DnsNames = append([]string(nil), e.DNSNames...)
	}
	if all || mask.RevisionNumber {
		out.RevisionNumber = e.RevisionNumber
	}
	if all || mask.StoreSvid {
		out.StoreSvid = e.StoreSVID
	}
	if all || mask.Hint {
		out.Hint = e.Hint
	}
	if all || mask.CreatedAt {
		out.CreatedAt = e.CreatedAt
	}
	return out
}

// EntryMaskFromProto converts an update input mask (nil: every field).
func EntryMaskFromProto(m *types.EntryMask) datastore.EntryMask {
	if m == nil {
		return datastore.AllEntryFields
	}
	return datastore.EntryMask{
		SPIFFEID: m.SpiffeId, ParentID: m.ParentId, Selectors: m.Selectors, X509SVIDTTL: m.X509SvidTtl,
		JWTSVIDTTL: m.JwtSvidTtl, FederatesWith: m.FederatesWith, Admin: m.Admin, Downstream: m.Downstream,
		ExpiresAt: m.ExpiresAt, DNSNames: m.DnsNames, StoreSVID: m.StoreSvid, Hint: m.Hint,
	}
}

// AgentToProto converts a stored agent, keeping only the fields in mask (nil mask: all).
func AgentToProto(a *datastore.Agent, mask *types.AgentMask) *types.Agent {
	all := mask == nil
	out := &types.Agent{Id: StringToProtoID(a.ID)}
	if all || mask.AttestationType {
		out.AttestationType = a.AttestationType
	}
	if all || mask.X509SvidSerialNumber {
		out.X509SvidSerialNumber = a.SerialNumber
	}
	if all || mask.X509SvidExpiresAt {
		out.X509SvidExpiresAt = a.ExpiresAt
	}
	if all || mask.Selectors {
		out.Selectors = SelectorsToProto(a.Selectors)
	}
	if all || mask.Banned {
		out.Banned = a.Banned
	}
	if all || mask.CanReattest {
		out.CanReattest = a.CanReattest
	}
	if all || mask.AgentVersion {
		out.AgentVersion = a.AgentVersion
	}
	return out
}

// BundleToProto converts a stored bundle, keeping only the fields in mask (nil mask: all).
func BundleToProto(b *datastore.Bundle, mask *types.BundleMask) *types.Bundle {
	all := mask == nil
	out := &types.Bundle{TrustDomain: b.TrustDomain}
	if all || mask.X509Authorities {
		for _, a := range b.X509Authorities {
			out.X509Authorities = append(out.X509Authorities, &types.X509Certificate{Asn1: a.DER, Tainted: a.Tainted})
		}
	}
	if all || mask.JwtAuthorities {
		for _, k := range b.JWTAuthorities {
			out.JwtAuthorities = append(out.JwtAuthorities, &types.JWTKey{PublicKey: k.PublicKey, KeyId: k.KeyID, ExpiresAt: k.ExpiresAt, Tainted: k.Tainted})
		}
	}
	if all || mask.WitAuthorities {
		for _, k := range b.WITAuthorities {
			out.WitAuthorities = append(out.WitAuthorities, &types.WITKey{PublicKey: k.PublicKey, KeyId: k.KeyID, ExpiresAt: k.ExpiresAt, Tainted: k.Tainted})
		}
	}
	if all || mask.RefreshHint {
		out.RefreshHint = b.RefreshHint
	}
	if all || mask.SequenceNumber {
		out.SequenceNumber = b.SequenceNumber
	}
	return out
}

// TrustDomainName accepts "example.org" or "spiffe://example.org" and returns the name.
func TrustDomainName(s string) (string, error) {
	td, err := spiffeid.TrustDomainFromString(strings.TrimSpace(s))
	if err != nil {
		return "", fmt.Errorf("trust domain %q: %w", s, err)
	}
	return td.Name(), nil
}

// X509SVIDToProto converts a signed certificate chain (leaf first).
func X509SVIDToProto(id spiffeid.ID, chain []*x509.Certificate, hint string) *types.X509SVID {
	out := &types.X509SVID{Id: spireid.ToProto(id), Hint: hint, CertChain: make([][]byte, len(chain))}
	for i, c := range chain {
		out.CertChain[i] = c.Raw
	}
	if len(chain) > 0 {
		out.ExpiresAt = chain[0].NotAfter.Unix()
	}
	return out
}
