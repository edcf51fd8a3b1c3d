package api

import (
	"errors"
	"strings"
	"testing"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/spire-api-sdk/proto/spire/api/types"
)

var td = spiffeid.RequireTrustDomainFromString("example.org")

func goodEntry() *types.Entry {
	return &types.Entry{
		SpiffeId:      &types.SPIFFEID{TrustDomain: "example.org", Path: "/web"},
		ParentId:      &types.SPIFFEID{TrustDomain: "example.org", Path: "/spire/agent/join_token/abc"},
		Selectors:     []*types.Selector{{Type: "unix", Value: "uid:1000"}},
		DnsNames:      []string{"web.example.org", "*.svc.example.org"},
		FederatesWith: []string{"spiffe://partner.org", "partner.org"},
	}
}

func TestEntryFromProto(t *testing.T) {
	v := EntryValidator{TrustDomain: td}
	tests := []struct {
		name    string
		mutate  func(e *types.Entry)
		wantErr string
	}{
		{"a well-formed entry is accepted", func(*types.Entry) {}, ""},
		{"a missing SPIFFE ID is refused", func(e *types.Entry) { e.SpiffeId = nil }, "spiffe_id is required"},
		{"a SPIFFE ID of another trust domain is refused", func(e *types.Entry) { e.SpiffeId.TrustDomain = "evil.org" }, "not in this server's trust domain"},
		{"a malformed path is refused", func(e *types.Entry) { e.SpiffeId.Path = "web" }, "spiffe_id"},
		{"a path under /spire is reserved", func(e *types.Entry) { e.SpiffeId.Path = "/spire/agent/x" }, "reserved"},
		{"a missing parent is refused", func(e *types.Entry) { e.ParentId = nil }, "parent_id is required"},
		{"no selectors are refused", func(e *types.Entry) { e.Selectors = nil }, "at least one selector"},
		{"a selector without type is refused", func(e *types.Entry) { e.Selectors[0].Type = "" }, "type is empty"},
		{"a selector type with a colon is refused", func(e *types.Entry) { e.Selectors[0].Type = "unix:uid" }, "must not contain ':'"},
		{"a selector without value is refused", func(e *types.Entry) { e.Selectors[0].Value = "" }, "empty value"},
		{"a selector value with a newline is refused", func(e *types.Entry) { e.Selectors[0].Value = "uid:1\nunix:uid:0" }, "control character"},
		{"a selector value that is not UTF-8 is refused", func(e *types.Entry) { e.Selectors[0].Value = "uid:\xff" }, "invalid UTF-8"},
		{"an IP address as DNS name is refused", func(e *types.Entry) { e.DnsNames = []string{"10.0.0.1"} }, "IP address"},
		{"a negative TTL is refused", func(e *types.Entry) { e.X509SvidTtl = -1 }, "x509_svid_ttl"},
		{"an invalid DNS name is refused", func(e *types.Entry) { e.DnsNames = []string{"bad name"} }, "dns name"},
		{"federating with the own trust domain is refused", func(e *types.Entry) { e.FederatesWith = []string{"example.org"} }, "own trust domain"},
		{"a bad entry ID is refused", func(e *types.Entry) { e.Id = "a/b" }, "id \"a/b\""},
		{"too many selectors are refused", func(e *types.Entry) {
			for i := 0; i <= MaxSelectors; i++ {
				e.Selectors = append(e.Selectors, &types.Selector{Type: "unix", Value: "gid:1"})
			}
		}, "at most"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := goodEntry()
			tt.mutate(e)
			got, err := v.EntryFromProto(e, nil)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				if got.SPIFFEID != "spiffe://example.org/web" || len(got.FederatesWith) != 1 || got.FederatesWith[0] != "partner.org" {
					t.Fatalf("converted entry wrong: %+v", got)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error = %v, want it to mention %q", err, tt.wantErr)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %v does not map to InvalidArgument", err)
			}
		})
	}
}

func TestEntryFromProtoChecksOnlyMaskedFields(t *testing.T) {
	v := EntryValidator{TrustDomain: td}
	e := &types.Entry{Id: "e1", Hint: "new"}
	got, err := v.EntryFromProto(e, &types.EntryMask{Hint: true})
	if err != nil {
		t.Fatalf("an update of only the hint must not require other fields: %v", err)
	}
	if got.Hint != "new" || got.ID != "e1" {
		t.Fatalf("got %+v", got)
	}
}

func TestBundleFromProtoRejectsGarbage(t *testing.T) {
	_, err := BundleFromProto(&types.Bundle{TrustDomain: "partner.org", X509Authorities: []*types.X509Certificate{{Asn1: []byte("nope")}}})
	if err == nil || !strings.Contains(err.Error(), "not a DER certificate") {
		t.Fatalf("error = %v", err)
	}
	_, err = BundleFromProto(&types.Bundle{TrustDomain: "partner.org", JwtAuthorities: []*types.JWTKey{{KeyId: "k", PublicKey: []byte("x")}}})
	if err == nil || !strings.Contains(err.Error(), "PKIX") {
		t.Fatalf("error = %v", err)
	}
}
