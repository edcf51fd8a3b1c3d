package cli

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strings"

	"github.com/lanyard-dev/lanyard/internal/command"
	entryv1 "github.com/spiffe/spire-api-sdk/proto/spire/api/server/entry/v1"
	"github.com/spiffe/spire-api-sdk/proto/spire/api/types"
	"google.golang.org/protobuf/encoding/protojson"
)

// readEntryData parses a -data file, {"entries": [...]}. Each entry is in either of the
// two forms operators have: the API's JSON form (IDs as {"trust_domain", "path"}) or the
// form SPIRE's own CLI reads (IDs as strings, "entry_id", "entryExpiry"), so SPIRE's files
// migrate as they are.
func readEntryData(e *command.Env, file string, update bool) ([]*types.Entry, error) {
	data, err := readInput(e, "-data", file)
	if err != nil {
		return nil, err
	}
	entries, err := parseEntryData(data)
	if err != nil {
		return nil, fmt.Errorf("-data %s: %w", file, err)
	}
	for i, entry := range entries {
		if update && entry.Id == "" {
			return nil, fmt.Errorf(`-data %s: entry %d has no "id" (or "entry_id"): updates need the ID of the entry to replace`, file, i+1)
		}
	}
	return entries, nil
}

// parseEntryData parses {"entries": [...]} in either form, entry by entry.
func parseEntryData(data []byte) ([]*types.Entry, error) {
	var batch struct {
		Entries []json.RawMessage `json:"entries"`
	}
	if err := json.Unmarshal(data, &batch); err != nil {
		return nil, fmt.Errorf(`is not {"entries": [...]}: %w`, err)
	}
	if len(batch.Entries) == 0 {
		return nil, errors.New(`has no entries: want {"entries": [...]}`)
	}
	out := make([]*types.Entry, 0, len(batch.Entries))
	for i, raw := range batch.Entries {
		entry, err := parseDataEntry(raw)
		if err != nil {
			return nil, fmt.Errorf("entry %d: %w", i+1, err)
		}
		out = append(out, entry)
	}
	return out, nil
}

func parseDataEntry(raw json.RawMessage) (*types.Entry, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil || fields == nil {
		return nil, errors.New("not a JSON object")
	}
	if !isSPIREForm(fields) {
		var entry types.Entry
		if err := protojson.Unmarshal(raw, &entry); err != nil {
			return nil, fmt.Errorf("not an entry in the API's JSON form nor in SPIRE's: %w", err)
		}
		return &entry, nil
	}
	return parseSPIREEntry(raw, fields)
}

// isSPIREForm tells SPIRE's form by its string IDs; the API's form has objects there.
func isSPIREForm(fields map[string]json.RawMessage) bool {
	for _, key := range []string{"spiffe_id", "parent_id"} {
		if v := bytes.TrimSpace(fields[key]); len(v) > 0 && v[0] == '"' {
			return true
		}
	}
	_, hasEntryID := fields["entry_id"]
	return hasEntryID
}

// spireEntry is one entry as SPIRE's CLI reads it (encoding/json of SPIRE's
// RegistrationEntry). "ttl" is the name older SPIRE releases used for x509_svid_ttl.
type spireEntry struct {
	EntryID   string `json:"entry_id"`
	SpiffeID  string `json:"spiffe_id"`
	ParentID  string `json:"parent_id"`
	Selectors []struct {
		Type  string `json:"type"`
		Value string `json:"value"`
	} `json:"selectors"`
	X509SVIDTTL    int32    `json:"x509_svid_ttl"`
	TTL            int32    `json:"ttl"`
	JWTSVIDTTL     int32    `json:"jwt_svid_ttl"`
	FederatesWith  []string `json:"federates_with"`
	Admin          bool     `json:"admin"`
	Downstream     bool     `json:"downstream"`
	EntryExpiry    int64    `json:"entryExpiry"`
	DNSNames       []string `json:"dns_names"`
	RevisionNumber int64    `json:"revision_number"`
	StoreSVID      bool     `json:"store_svid"`
	Hint           string   `json:"hint"`
	CreatedAt      int64    `json:"created_at"`
}

// spireAliases are other spellings of SPIRE-form keys seen in hand-written files.
var spireAliases = map[string]string{"entry_expiry": "entryExpiry", "expires_at": "entryExpiry", "id": "entry_id"}

func parseSPIREEntry(raw json.RawMessage, fields map[string]json.RawMessage) (*types.Entry, error) {
	for alias, key := range spireAliases {
		if v, ok := fields[alias]; ok {
			if _, both := fields[key]; both {
				return nil, fmt.Errorf("%q and %q mean the same; keep one", alias, key)
			}
			fields[key] = v
			delete(fields, alias)
		}
	}
	if err := knownKeys(fields); err != nil {
		return nil, err
	}
	normalized, err := json.Marshal(fields)
	if err != nil {
		return nil, err
	}
	var se spireEntry
	if err := json.Unmarshal(normalized, &se); err != nil {
		return nil, err
	}
	spiffeID, err := parseID(`"spiffe_id"`, se.SpiffeID)
	if err != nil {
		return nil, err
	}
	parentID, err := parseID(`"parent_id"`, se.ParentID)
	if err != nil {
		return nil, err
	}
	federatesWith, err := parseTrustDomains(`"federates_with"`, se.FederatesWith)
	if err != nil {
		return nil, err
	}
	x509TTL := se.X509SVIDTTL
	if x509TTL == 0 {
		x509TTL = se.TTL
	}
	entry := &types.Entry{
		Id: se.EntryID, SpiffeId: spiffeID, ParentId: parentID,
		X509SvidTtl: x509TTL, JwtSvidTtl: se.JWTSVIDTTL, FederatesWith: federatesWith,
		Admin: se.Admin, Downstream: se.Downstream, ExpiresAt: se.EntryExpiry, DnsNames: se.DNSNames,
		RevisionNumber: se.RevisionNumber, StoreSvid: se.StoreSVID, Hint: se.Hint, CreatedAt: se.CreatedAt,
	}
	for _, s := range se.Selectors {
		entry.Selectors = append(entry.Selectors, &types.Selector{Type: s.Type, Value: s.Value})
	}
	return entry, nil
}

// knownKeys refuses keys SPIRE's form does not have: a misspelt field would otherwise be
// dropped without a word.
func knownKeys(fields map[string]json.RawMessage) error {
	var unknown []string
	for k := range fields {
		if !slices.Contains(spireKeys, k) {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) == 0 {
		return nil
	}
	sort.Strings(unknown)
	return fmt.Errorf("unknown field %q in a SPIRE-form entry (known: %s)", unknown[0], strings.Join(spireKeys, ", "))
}

// spireKeys are the keys of SPIRE's form, in field order.
var spireKeys = jsonKeys(spireEntry{})

// jsonKeys lists the JSON keys of a struct's fields, in field order.
func jsonKeys(v any) []string {
	t := reflect.TypeOf(v)
	keys := make([]string, 0, t.NumField())
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		keys = append(keys, name)
	}
	return keys
}

// readIDs reads entry IDs from a -file: the API's JSON form {"ids": [...]} or plain text
// with one ID per line (blank lines and # comments skipped).
func readIDs(e *command.Env, file string) ([]string, error) {
	data, err := readInput(e, "-file", file)
	if err != nil {
		return nil, err
	}
	var ids []string
	if trimmed := bytes.TrimSpace(data); len(trimmed) > 0 && trimmed[0] == '{' {
		var req entryv1.BatchDeleteEntryRequest
		if err := protojson.Unmarshal(trimmed, &req); err != nil {
			return nil, fmt.Errorf(`-file %s is not {"ids": [...]}: %w`, file, err)
		}
		ids = req.Ids
	} else {
		sc := bufio.NewScanner(bytes.NewReader(data))
		for sc.Scan() {
			line := strings.TrimSpace(sc.Text())
			if line != "" && !strings.HasPrefix(line, "#") {
				ids = append(ids, line)
			}
		}
		if err := sc.Err(); err != nil {
			return nil, fmt.Errorf("-file %s: %w", file, err)
		}
	}
	if len(ids) == 0 {
		return nil, fmt.Errorf("-file %s has no entry IDs", file)
	}
	return ids, nil
}
