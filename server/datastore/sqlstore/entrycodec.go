package sqlstore

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/lanyard-dev/lanyard/attestors"
	"github.com/lanyard-dev/lanyard/server/datastore"
)

const entryColumns = `id, spiffe_id, parent_id, selectors, federates_with, dns_names, x509_svid_ttl,
	jwt_svid_ttl, admin, downstream, expires_at, store_svid, hint, revision_number, created_at`

// entryRow is an entry ready to store: normalised, with its list columns encoded.
type entryRow struct {
	e                             *datastore.Entry
	selectors, federates, dnsJSON string
}

// newEntryRow validates in and returns a normalised copy: selectors sorted and distinct,
// trust domains sorted and distinct, DNS names in the caller's order (the first one may
// become the certificate's common name).
func newEntryRow(in *datastore.Entry) (*entryRow, error) {
	if in == nil {
		return nil, errors.New("the entry is nil")
	}
	if in.SPIFFEID == "" {
		return nil, errors.New("SPIFFE ID is empty")
	}
	if in.ParentID == "" {
		return nil, errors.New("parent ID is empty")
	}
	if len(in.Selectors) == 0 {
		return nil, errors.New("no selectors: an entry needs at least one")
	}
	if err := validSelectors(in.Selectors); err != nil {
		return nil, err
	}
	for i, td := range in.FederatesWith {
		if td == "" {
			return nil, fmt.Errorf("federates_with[%d] is empty", i)
		}
	}
	for i, n := range in.DNSNames {
		if n == "" {
			return nil, fmt.Errorf("dns_names[%d] is empty", i)
		}
	}
	if in.X509SVIDTTL < 0 || in.JWTSVIDTTL < 0 {
		return nil, errors.New("SVID TTLs must not be negative (0 means the server default)")
	}
	e := *in
	e.Selectors = datastore.SortSelectors(in.Selectors)
	e.FederatesWith = sortedUnique(in.FederatesWith)
	e.DNSNames = slices.Clone(in.DNSNames)
	r := &entryRow{e: &e}
	r.selectors = encodeSelectors(e.Selectors)
	r.federates = encodeStrings(e.FederatesWith)
	r.dnsJSON = encodeStrings(e.DNSNames)
	return r, nil
}

func validSelectors(s []attestors.Selector) error {
	for i, sel := range s {
		if sel.Type == "" || sel.Value == "" {
			return fmt.Errorf("selector %d (%q:%q) needs both a type and a value", i, sel.Type, sel.Value)
		}
	}
	return nil
}

func sortedUnique(s []string) []string {
	out := slices.Clone(s)
	slices.Sort(out)
	return slices.Compact(out)
}

// encodeSelectors gives equal sets equal text, which the entries_identity index relies on.
func encodeSelectors(s []attestors.Selector) string {
	pairs := make([][2]string, len(s))
	for i, sel := range s {
		pairs[i] = [2]string{sel.Type, sel.Value}
	}
	b, _ := json.Marshal(pairs) // cannot fail for strings
	return string(b)
}

func decodeSelectors(text string) ([]attestors.Selector, error) {
	var pairs [][2]string
	if err := json.Unmarshal([]byte(text), &pairs); err != nil {
		return nil, fmt.Errorf("decode selectors: %w", err)
	}
	if len(pairs) == 0 {
		return nil, nil
	}
	out := make([]attestors.Selector, len(pairs))
	for i, p := range pairs {
		out[i] = attestors.Selector{Type: p[0], Value: p[1]}
	}
	return out, nil
}

func encodeStrings(s []string) string {
	if len(s) == 0 {
		return "[]"
	}
	b, _ := json.Marshal(s) // cannot fail for strings
	return string(b)
}

func decodeStrings(text string) ([]string, error) {
	var out []string
	if err := json.Unmarshal([]byte(text), &out); err != nil {
		return nil, fmt.Errorf("decode list: %w", err)
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

type scanner interface{ Scan(dest ...any) error }

func scanEntry(sc scanner) (*datastore.Entry, error) {
	var e datastore.Entry
	var sels, feds, dns string
	var admin, downstream, storeSVID int
	if err := sc.Scan(&e.ID, &e.SPIFFEID, &e.ParentID, &sels, &feds, &dns, &e.X509SVIDTTL,
		&e.JWTSVIDTTL, &admin, &downstream, &e.ExpiresAt, &storeSVID, &e.Hint, &e.RevisionNumber,
		&e.CreatedAt); err != nil {
		return nil, err
	}
	e.Admin, e.Downstream, e.StoreSVID = admin != 0, downstream != 0, storeSVID != 0
	var err error
	if e.Selectors, err = decodeSelectors(sels); err != nil {
		return nil, fmt.Errorf("entry %s: %w", e.ID, err)
	}
	if e.FederatesWith, err = decodeStrings(feds); err != nil {
		return nil, fmt.Errorf("entry %s: %w", e.ID, err)
	}
	if e.DNSNames, err = decodeStrings(dns); err != nil {
		return nil, fmt.Errorf("entry %s: %w", e.ID, err)
	}
	return &e, nil
}

// args lists the values for entryColumns, in order.
func (r *entryRow) args() []any {
	e := r.e
	return []any{e.ID, e.SPIFFEID, e.ParentID, r.selectors, r.federates, r.dnsJSON, e.X509SVIDTTL,
		e.JWTSVIDTTL, boolInt(e.Admin), boolInt(e.Downstream), e.ExpiresAt, boolInt(e.StoreSVID), e.Hint,
		e.RevisionNumber, e.CreatedAt}
}
