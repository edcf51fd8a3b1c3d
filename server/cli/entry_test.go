package cli

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	entryv1 "github.com/spiffe/spire-api-sdk/proto/spire/api/server/entry/v1"
	"github.com/spiffe/spire-api-sdk/proto/spire/api/types"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

func id(td, path string) *types.SPIFFEID { return &types.SPIFFEID{TrustDomain: td, Path: path} }

func sel(t, v string) *types.Selector { return &types.Selector{Type: t, Value: v} }

// diffProto compares two messages or two slices of entries and describes a mismatch.
func diffProto[M proto.Message](want, got M) string {
	if proto.Equal(want, got) {
		return ""
	}
	return fmt.Sprintf("want %v\n got %v", want, got)
}

func diffEntries(want, got []*types.Entry) string {
	return diffProto(&entryv1.ListEntriesResponse{Entries: want}, &entryv1.ListEntriesResponse{Entries: got})
}

func TestEntryCreateMapsFlagsToTheRequest(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want *types.Entry
	}{
		{
			name: "every flag ends up in the entry",
			args: []string{
				"-spiffeID", "spiffe://example.org/web", "-parentID", "spiffe://example.org/spire/agent/join_token/t1",
				"-selector", "unix:uid:1000", "-selector", "k8s:ns:default", "-x509SVIDTTL", "3600", "-jwtSVIDTTL", "300",
				"-federatesWith", "spiffe://other.org", "-federatesWith", "third.org", "-admin", "-downstream",
				"-entryExpiry", "1900000000", "-dns", "web.example.org", "-dns", "web", "-storeSVID", "-hint", "blue",
				"-entryID", "my-entry",
			},
			want: &types.Entry{
				Id: "my-entry", SpiffeId: id("example.org", "/web"), ParentId: id("example.org", "/spire/agent/join_token/t1"),
				Selectors:   []*types.Selector{sel("unix", "uid:1000"), sel("k8s", "ns:default")},
				X509SvidTtl: 3600, JwtSvidTtl: 300, FederatesWith: []string{"other.org", "third.org"},
				Admin: true, Downstream: true, ExpiresAt: 1900000000, DnsNames: []string{"web.example.org", "web"},
				StoreSvid: true, Hint: "blue",
			},
		},
		{
			name: "-node makes the server of the entry's trust domain the parent",
			args: []string{"-spiffeID", "spiffe://example.org/nodes/c1", "-node", "-selector", "k8s_psat:cluster:c1"},
			want: &types.Entry{
				SpiffeId: id("example.org", "/nodes/c1"), ParentId: id("example.org", "/spire/server"),
				Selectors: []*types.Selector{sel("k8s_psat", "cluster:c1")},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			h.addFederatedBundle("other.org")
			h.addFederatedBundle("third.org")
			h.run(append([]string{"entry", "create"}, tt.args...)...).wantOK(t)
			// The server keeps selectors sorted.
			want := proto.Clone(tt.want).(*types.Entry)
			sort.Slice(want.Selectors, func(i, j int) bool { return selectorString(want.Selectors[i]) < selectorString(want.Selectors[j]) })
			if d := diffEntries([]*types.Entry{want}, withoutServerFields(h.storedEntries(), tt.want.Id == "")); d != "" {
				t.Errorf("stored entries (-want +got):\n%s", d)
			}
		})
	}
}

// withoutServerFields clears what the server sets itself (and the ID, if it picked it),
// leaving what the CLI sent.
func withoutServerFields(entries []*types.Entry, clearID bool) []*types.Entry {
	var out []*types.Entry
	for _, e := range entries {
		e = proto.Clone(e).(*types.Entry)
		e.CreatedAt, e.RevisionNumber = 0, 0
		if clearID {
			e.Id = ""
		}
		out = append(out, e)
	}
	return out
}

func TestEntryCreateOutput(t *testing.T) {
	args := []string{"entry", "create", "-spiffeID", "spiffe://example.org/web", "-parentID", "spiffe://example.org/agent",
		"-selector", "unix:uid:1000", "-x509SVIDTTL", "60", "-dns", "web.example.org"}

	t.Run("pretty output shows the created entry as a block", func(t *testing.T) {
		h := newHarness(t)
		r := h.run(args...).wantOK(t)
		stored := h.storedEntries()
		if len(stored) != 1 {
			t.Fatalf("server holds %d entries, want 1", len(stored))
		}
		want := "Entry ID         : " + stored[0].Id + "\n" +
			"SPIFFE ID        : spiffe://example.org/web\n" +
			"Parent ID        : spiffe://example.org/agent\n" +
			"Revision         : 0\n" +
			"X509-SVID TTL    : 60\n" +
			"JWT-SVID TTL     : default\n" +
			"Selector         : unix:uid:1000\n" +
			"DNS name         : web.example.org\n" +
			"Created at       : " + unixTime(stored[0].CreatedAt) + "\n"
		if r.stdout != want {
			t.Errorf("stdout:\n%s\nwant:\n%s", r.stdout, want)
		}
	})
	t.Run("json output is the response in the API's JSON form on one line", func(t *testing.T) {
		h := newHarness(t)
		r := h.run(append(args, "-output", "json")...).wantOK(t)
		if strings.Count(r.stdout, "\n") != 1 {
			t.Errorf("json output spans several lines: %q", r.stdout)
		}
		var resp entryv1.BatchCreateEntryResponse
		if err := protojson.Unmarshal([]byte(r.stdout), &resp); err != nil {
			t.Fatalf("stdout is not a BatchCreateEntryResponse: %v\n%s", err, r.stdout)
		}
		if len(resp.Results) != 1 || resp.Results[0].Entry.GetId() != h.storedEntries()[0].Id || resp.Results[0].Entry.X509SvidTtl != 60 {
			t.Errorf("response %v", &resp)
		}
		// Scripts read snake_case keys, the same spelling -data files use.
		var raw map[string][]map[string]map[string]any
		if err := json.Unmarshal([]byte(r.stdout), &raw); err != nil {
			t.Fatal(err)
		}
		if _, ok := raw["results"][0]["entry"]["x509_svid_ttl"]; !ok {
			t.Errorf("json output lacks the x509_svid_ttl key: %s", r.stdout)
		}
	})
}

// entryData writes n entries in the -data format and returns the JSON.
func entryData(t *testing.T, n int) string {
	t.Helper()
	req := &entryv1.BatchCreateEntryRequest{}
	for i := range n {
		req.Entries = append(req.Entries, &types.Entry{
			SpiffeId: id("example.org", fmt.Sprintf("/w/%d", i)), ParentId: id("example.org", "/agent"),
			Selectors: []*types.Selector{sel("unix", fmt.Sprintf("uid:%d", i))},
		})
	}
	data, err := protojson.MarshalOptions{UseProtoNames: true}.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestEntryCreateFromData(t *testing.T) {
	t.Run("1201 entries are all created, and entry show pages through them", func(t *testing.T) {
		h := newHarness(t)
		path := writeFile(t, "entries.json", entryData(t, 1201))
		r := h.run("entry", "create", "-data", path).wantOK(t)
		if n := len(h.storedEntries()); n != 1201 {
			t.Errorf("server holds %d entries, want 1201", n)
		}
		if n := strings.Count(r.stdout, "Entry ID"); n != 1201 {
			t.Errorf("stdout shows %d entries, want 1201", n)
		}
		var resp entryv1.ListEntriesResponse
		if err := protojson.Unmarshal([]byte(h.run("entry", "show", "-output", "json").wantOK(t).stdout), &resp); err != nil {
			t.Fatal(err)
		}
		if len(resp.Entries) != 1201 {
			t.Errorf("entry show lists %d entries over its pages of %d, want 1201", len(resp.Entries), listPageSize)
		}
	})
	t.Run("-data - reads the entries from standard input", func(t *testing.T) {
		h := newHarness(t)
		h.runStdin(entryData(t, 3), "entry", "create", "-data", "-").wantOK(t)
		if n := len(h.storedEntries()); n != 3 {
			t.Errorf("server holds %d entries, want 3", n)
		}
	})
	t.Run("a file that is not the entries JSON is rejected before any call", func(t *testing.T) {
		h := newUnreachable(t)
		path := writeFile(t, "entries.json", `[{"spiffe_id": "spiffe://example.org/w"}]`)
		h.run("entry", "create", "-data", path).wantError(t, "is not {\"entries\": [...]}")
	})
	t.Run("a file with no entries is rejected", func(t *testing.T) {
		h := newHarness(t)
		path := writeFile(t, "entries.json", `{"entries": []}`)
		h.run("entry", "create", "-data", path).wantError(t, "has no entries")
	})
}

// spireData is a -data file as SPIRE's own CLI reads and writes it.
const spireData = `{"entries": [
  {"entry_id": "", "spiffe_id": "spiffe://example.org/billing", "parent_id": "spiffe://example.org/spire/agent/join_token/t1",
   "selectors": [{"type": "unix", "value": "uid:1000"}, {"type": "unix", "value": "gid:50"}],
   "x509_svid_ttl": 600, "jwt_svid_ttl": 120, "federates_with": ["spiffe://partner.org", "other.org"],
   "admin": true, "downstream": true, "entryExpiry": 1900000000, "dns_names": ["billing.example.org"],
   "hint": "internal", "store_svid": true},
  {"spiffe_id": "spiffe://example.org/legacy", "parent_id": "spiffe://example.org/spire/agent/join_token/t1",
   "selectors": [{"type": "unix", "value": "uid:1001"}], "ttl": 300}
]}`

func TestEntryDataInSPIREsForm(t *testing.T) {
	entries, err := parseEntryData([]byte(spireData))
	if err != nil {
		t.Fatal(err)
	}
	want := []*types.Entry{{
		SpiffeId: id("example.org", "/billing"), ParentId: id("example.org", "/spire/agent/join_token/t1"),
		Selectors:   []*types.Selector{sel("unix", "uid:1000"), sel("unix", "gid:50")},
		X509SvidTtl: 600, JwtSvidTtl: 120, FederatesWith: []string{"partner.org", "other.org"},
		Admin: true, Downstream: true, ExpiresAt: 1900000000, DnsNames: []string{"billing.example.org"},
		Hint: "internal", StoreSvid: true,
	}, {
		SpiffeId: id("example.org", "/legacy"), ParentId: id("example.org", "/spire/agent/join_token/t1"),
		Selectors: []*types.Selector{sel("unix", "uid:1001")}, X509SvidTtl: 300,
	}}
	if len(entries) != len(want) {
		t.Fatalf("%d entries, want %d", len(entries), len(want))
	}
	for i := range want {
		if !proto.Equal(entries[i], want[i]) {
			t.Errorf("entry %d:\n got %v\nwant %v", i+1, entries[i], want[i])
		}
	}

	t.Run("entry create sends them", func(t *testing.T) {
		h := newHarness(t)
		h.addFederatedBundle("partner.org")
		h.addFederatedBundle("other.org")
		h.run("entry", "create", "-data", writeFile(t, "spire.json", spireData)).wantOK(t)
		if n := len(h.storedEntries()); n != 2 {
			t.Errorf("server holds %d entries, want 2", n)
		}
	})
	t.Run("entry update takes entry_id as the ID", func(t *testing.T) {
		got, err := parseEntryData([]byte(`{"entries": [{"entry_id": "e1", "spiffe_id": "spiffe://example.org/a", "parent_id": "spiffe://example.org/p", "selectors": [{"type": "unix", "value": "uid:1"}]}]}`))
		if err != nil || got[0].Id != "e1" {
			t.Fatalf("entries %v, err %v; want ID e1", got, err)
		}
	})
	for _, tt := range []struct{ name, data, want string }{
		{"a misspelt field is named", `{"entries": [{"spiffe_id": "spiffe://example.org/a", "parent_id": "spiffe://example.org/p", "federatesWith": ["x.org"]}]}`, `unknown field "federatesWith"`},
		{"a bad SPIFFE ID is named", `{"entries": [{"spiffe_id": "example.org/a", "parent_id": "spiffe://example.org/p"}]}`, `entry 1: "spiffe_id" "example.org/a" is not a SPIFFE ID`},
		{"two spellings of one field are refused", `{"entries": [{"spiffe_id": "spiffe://example.org/a", "parent_id": "spiffe://example.org/p", "entryExpiry": 1, "expires_at": 2}]}`, `mean the same`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseEntryData([]byte(tt.data))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestEntryDeleteTakesSPIREsFile(t *testing.T) {
	h := newHarness(t)
	h.addEntries(&types.Entry{Id: "e1", SpiffeId: id("example.org", "/w/1"), ParentId: id("example.org", "/agent"),
		Selectors: []*types.Selector{sel("unix", "uid:1")}})
	h.run("entry", "delete", "-file", writeFile(t, "ids.json", `{"ids": ["e1"]}`)).wantOK(t)
	if n := len(h.storedEntries()); n != 0 {
		t.Errorf("server holds %d entries, want 0", n)
	}
}

func TestEntryCreatePerItemFailures(t *testing.T) {
	h := newHarness(t)
	h.addEntries(&types.Entry{SpiffeId: id("example.org", "/w/1"), ParentId: id("example.org", "/agent"),
		Selectors: []*types.Selector{sel("unix", "uid:1")}})
	path := writeFile(t, "entries.json", entryData(t, 3)) // /w/1 already exists

	r := h.run("entry", "create", "-data", path)
	r.wantError(t, "Error: entry create: spiffe://example.org/w/1: AlreadyExists: creating entry: similar entry already exists")
	if n := strings.Count(r.stdout, "Entry ID"); n != 2 {
		t.Errorf("stdout shows %d created entries, want the 2 that succeeded:\n%s", n, r.stdout)
	}
	if n := len(h.storedEntries()); n != 3 {
		t.Errorf("server holds %d entries, want 3", n)
	}
}

func TestEntryShow(t *testing.T) {
	h := newHarness(t)
	var byPath = map[string]string{}
	for i := range 5 {
		e := h.addEntries(&types.Entry{SpiffeId: id("example.org", fmt.Sprintf("/w/%d", 4-i)), ParentId: id("example.org", "/agent"),
			Selectors: []*types.Selector{sel("unix", "uid:1")}})[0]
		byPath[e.SpiffeId.Path] = e.Id
	}

	t.Run("prints every entry sorted by SPIFFE ID", func(t *testing.T) {
		r := h.run("entry", "show").wantOK(t)
		if !strings.HasPrefix(r.stdout, "Found 5 entries\n\nEntry ID") {
			t.Errorf("stdout starts %q", r.stdout[:min(40, len(r.stdout))])
		}
		last := -1
		for i := range 5 {
			at := strings.Index(r.stdout, fmt.Sprintf("spiffe://example.org/w/%d\n", i))
			if at < last {
				t.Fatalf("entries not in SPIFFE ID order:\n%s", r.stdout)
			}
			last = at
		}
	})
	t.Run("json output holds every entry", func(t *testing.T) {
		r := h.run("entry", "show", "-output", "json").wantOK(t)
		var resp entryv1.ListEntriesResponse
		if err := protojson.Unmarshal([]byte(r.stdout), &resp); err != nil {
			t.Fatal(err)
		}
		if len(resp.Entries) != 5 || resp.NextPageToken != "" {
			t.Errorf("json has %d entries, next token %q", len(resp.Entries), resp.NextPageToken)
		}
	})
	t.Run("-entryID fetches that one entry", func(t *testing.T) {
		r := h.run("entry", "show", "-entryID", byPath["/w/3"]).wantOK(t)
		if !strings.Contains(r.stdout, "Found 1 entry\n") || !strings.Contains(r.stdout, "spiffe://example.org/w/3") {
			t.Errorf("stdout:\n%s", r.stdout)
		}
	})
	t.Run("an unknown -entryID shows the server's status", func(t *testing.T) {
		h.run("entry", "show", "-entryID", "nope").wantError(t, `Error: entry show nope: NotFound: entry nope: entry "nope" not found`)
	})
}

func TestEntryShowFilters(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want *entryv1.ListEntriesRequest_Filter
	}{
		{"no flags means no filter", nil, &entryv1.ListEntriesRequest_Filter{}},
		{
			"selectors match as a superset unless told otherwise",
			[]string{"-selector", "unix:uid:1000", "-selector", "unix:gid:0"},
			&entryv1.ListEntriesRequest_Filter{BySelectors: &types.SelectorMatch{
				Selectors: []*types.Selector{sel("unix", "uid:1000"), sel("unix", "gid:0")}, Match: types.SelectorMatch_MATCH_SUPERSET}},
		},
		{
			"-matchSelectorsOn exact asks for an exact match",
			[]string{"-selector", "unix:uid:1000", "-matchSelectorsOn", "exact"},
			&entryv1.ListEntriesRequest_Filter{BySelectors: &types.SelectorMatch{
				Selectors: []*types.Selector{sel("unix", "uid:1000")}, Match: types.SelectorMatch_MATCH_EXACT}},
		},
		{
			"IDs, trust domains, hint and downstream become filters",
			[]string{"-spiffeID", "spiffe://example.org/w", "-parentID", "spiffe://example.org/a", "-federatesWith", "spiffe://other.org",
				"-matchFederatesWithOn", "any", "-hint", "blue", "-downstream=false"},
			&entryv1.ListEntriesRequest_Filter{
				BySpiffeId: id("example.org", "/w"), ByParentId: id("example.org", "/a"),
				ByFederatesWith: &types.FederatesWithMatch{TrustDomains: []string{"other.org"}, Match: types.FederatesWithMatch_MATCH_ANY},
				ByHint:          wrapperspb.String("blue"), ByDownstream: wrapperspb.Bool(false),
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := flag.NewFlagSet("entry show", flag.ContinueOnError)
			var f entryFilterFlags
			f.register(fs)
			if err := fs.Parse(tt.args); err != nil {
				t.Fatal(err)
			}
			got, err := f.filter(fs)
			if err != nil {
				t.Fatal(err)
			}
			if d := diffProto(tt.want, got); d != "" {
				t.Errorf("filter (-want +got):\n%s", d)
			}
		})
	}
	t.Run("the server applies the filter", func(t *testing.T) {
		h := newHarness(t)
		h.addEntries(
			&types.Entry{SpiffeId: id("example.org", "/w"), ParentId: id("example.org", "/a"), Selectors: []*types.Selector{sel("unix", "uid:1000"), sel("unix", "gid:0")}, Hint: "blue"},
			&types.Entry{SpiffeId: id("example.org", "/v"), ParentId: id("example.org", "/a"), Selectors: []*types.Selector{sel("unix", "uid:1000")}},
		)
		for _, args := range [][]string{{"-spiffeID", "spiffe://example.org/w"}, {"-hint", "blue"}, {"-selector", "unix:gid:0", "-matchSelectorsOn", "any"}} {
			r := h.run(append([]string{"entry", "show"}, args...)...).wantOK(t)
			if !strings.HasPrefix(r.stdout, "Found 1 entry\n") || !strings.Contains(r.stdout, "spiffe://example.org/w\n") {
				t.Errorf("entry show %v:\n%s", args, r.stdout)
			}
		}
	})
}

func TestEntryUpdate(t *testing.T) {
	t.Run("flags replace the whole entry", func(t *testing.T) {
		h := newHarness(t)
		old := h.addEntries(&types.Entry{SpiffeId: id("example.org", "/w"), ParentId: id("example.org", "/a"),
			Selectors: []*types.Selector{sel("unix", "uid:1")}, DnsNames: []string{"old.example.org"}, Admin: true})[0]
		r := h.run("entry", "update", "-entryID", old.Id, "-spiffeID", "spiffe://example.org/w2", "-parentID", "spiffe://example.org/a",
			"-selector", "unix:uid:2").wantOK(t)
		want := &types.Entry{Id: old.Id, SpiffeId: id("example.org", "/w2"), ParentId: id("example.org", "/a"),
			Selectors: []*types.Selector{sel("unix", "uid:2")}, RevisionNumber: 1}
		stored := h.storedEntries()
		if len(stored) == 1 && stored[0].RevisionNumber != 1 {
			t.Errorf("revision %d, want 1", stored[0].RevisionNumber)
		}
		// No input mask was sent: the DNS name and admin flag the flags did not repeat are gone.
		want.RevisionNumber = 0
		if d := diffEntries([]*types.Entry{want}, withoutServerFields(stored, false)); d != "" {
			t.Errorf("stored entry (-want +got):\n%s", d)
		}
		if !strings.Contains(r.stdout, "SPIFFE ID        : spiffe://example.org/w2") {
			t.Errorf("stdout:\n%s", r.stdout)
		}
	})
	t.Run("an unknown entry ID fails with the server's message", func(t *testing.T) {
		h := newHarness(t)
		h.run("entry", "update", "-entryID", "ghost", "-spiffeID", "spiffe://example.org/w", "-parentID", "spiffe://example.org/a",
			"-selector", "unix:uid:2").wantError(t, `Error: entry update: ghost (spiffe://example.org/w): NotFound: updating entry ghost: entry "ghost" not found`)
	})
	t.Run("-data entries without an id are rejected before any call", func(t *testing.T) {
		h := newUnreachable(t)
		path := writeFile(t, "entries.json", entryData(t, 1))
		h.run("entry", "update", "-data", path).wantError(t, `entry 1 has no "id"`)
	})
}

func TestEntryDelete(t *testing.T) {
	tests := []struct {
		name  string
		args  func(t *testing.T) []string
		stdin string
	}{
		{"-entryID deletes one entry", func(*testing.T) []string { return []string{"-entryID", "entry-0001"} }, ""},
		{"-file with one ID per line", func(t *testing.T) []string {
			return []string{"-file", writeFile(t, "ids.txt", "# old entries\nentry-0001\n\nentry-0002\n")}
		}, ""},
		{"-file in the API's JSON form", func(t *testing.T) []string {
			return []string{"-file", writeFile(t, "ids.json", `{"ids": ["entry-0001", "entry-0002"]}`)}
		}, ""},
		{"-file - reads IDs from standard input", func(*testing.T) []string { return []string{"-file", "-"} }, "entry-0002\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			for i := range 3 {
				h.addEntries(&types.Entry{Id: fmt.Sprintf("entry-%04d", i), SpiffeId: id("example.org", fmt.Sprintf("/w/%d", i)),
					ParentId: id("example.org", "/a"), Selectors: []*types.Selector{sel("unix", "uid:1")}})
			}
			r := h.runStdin(tt.stdin, append([]string{"entry", "delete"}, tt.args(t)...)...).wantOK(t)
			deleted := map[string]bool{"entry-0000": true, "entry-0001": true, "entry-0002": true}
			for _, e := range h.storedEntries() {
				delete(deleted, e.Id)
			}
			for id := range deleted {
				if !strings.Contains(r.stdout, "Deleted entry ID "+id+"\n") {
					t.Errorf("stdout does not confirm %s:\n%s", id, r.stdout)
				}
			}
			if n := strings.Count(r.stdout, "Deleted entry ID"); n != len(deleted) || n == 0 {
				t.Errorf("stdout confirms %d deletions, the server lost %d entries:\n%s", n, len(deleted), r.stdout)
			}
		})
	}
	t.Run("an unknown ID is reported and the others are still deleted", func(t *testing.T) {
		h := newHarness(t)
		h.addEntries(&types.Entry{Id: "entry-0001", SpiffeId: id("example.org", "/w"), ParentId: id("example.org", "/a"), Selectors: []*types.Selector{sel("unix", "uid:1")}})
		r := h.runStdin("ghost\nentry-0001\n", "entry", "delete", "-file", "-")
		r.wantError(t, `Error: entry delete: ghost: NotFound: deleting entry ghost: entry "ghost" not found`)
		if len(h.storedEntries()) != 0 {
			t.Error("entry-0001 was not deleted")
		}
	})
}

func TestEntryCount(t *testing.T) {
	h := newHarness(t)
	if r := h.run("entry", "count").wantOK(t); r.stdout != "0 registration entries\n" {
		t.Errorf("stdout %q", r.stdout)
	}
	h.addEntries(&types.Entry{SpiffeId: id("example.org", "/w"), ParentId: id("example.org", "/a"), Selectors: []*types.Selector{sel("unix", "uid:1")}})
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"pretty output says how many entries", nil, "1 registration entry\n"},
		{"json output is the count response", []string{"-output", "json"}, `{"count":1}` + "\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := h.run(append([]string{"entry", "count"}, tt.args...)...).wantOK(t)
			if r.stdout != tt.want {
				t.Errorf("stdout %q, want %q", r.stdout, tt.want)
			}
		})
	}
	t.Run("filters count only the matching entries", func(t *testing.T) {
		if r := h.run("entry", "count", "-spiffeID", "spiffe://example.org/other").wantOK(t); r.stdout != "0 registration entries\n" {
			t.Errorf("stdout %q", r.stdout)
		}
	})
}

func TestInBatchesSendsAtMostMaxBatchSize(t *testing.T) {
	var sizes []int
	err := inBatches(make([]int, 1201), func(b []int) error {
		sizes = append(sizes, len(b))
		return nil
	})
	if err != nil || fmt.Sprint(sizes) != "[500 500 201]" {
		t.Errorf("batch sizes %v (%v), want [500 500 201]", sizes, err)
	}
}
