package cli

import (
	"bytes"
	"io"
	"strings"
	"testing"

	"github.com/lanyard-dev/lanyard/internal/command"
	entryv1 "github.com/spiffe/spire-api-sdk/proto/spire/api/server/entry/v1"
	"google.golang.org/protobuf/encoding/protojson"
)

// FuzzEntryData feeds `entry create|update -data -` input. What is accepted must be a
// non-empty list of entries (with IDs for updates) that the CLI can print back in the
// same form and read again unchanged.
func FuzzEntryData(f *testing.F) {
	f.Add([]byte(`{"entries":[{"spiffe_id":{"trust_domain":"example.org","path":"/web"},`+
		`"parent_id":{"trust_domain":"example.org","path":"/spire/agent/join_token/abc"},`+
		`"selectors":[{"type":"unix","value":"uid:1000"}],"x509_svid_ttl":3600,"dns_names":["web.example.org"]}]}`), false)
	f.Add([]byte(`{"entries":[{"id":"e1","spiffeId":{"trustDomain":"example.org","path":"/db"},"selectors":[{"type":"k8s","value":"ns:db"}],"federatesWith":["partner.org"],"expiresAt":"1893456000"}]}`), true)
	f.Add([]byte(`{"entries":[{"spiffe_id":{"trust_domain":"example.org","path":"/web"}}]}`), true)
	f.Add([]byte(`{"entries":[null]}`), false)
	f.Add([]byte(`{"entries":[]}`), false)
	f.Add([]byte(`{"entries":[{"selectors":[{"type":"unix","value":"uid:1000\nunix:uid:0"}]}]}`), false)
	f.Add([]byte(`{"entries":[{"jwt_svid_ttl":-1,"x509_svid_ttl":2147483648}]}`), false)
	f.Add([]byte(`{"entries":[{"hint":"\u0000\ud800"}]}`), false)
	f.Fuzz(func(t *testing.T, data []byte, update bool) {
		entries, err := readEntryData(&command.Env{Stdin: bytes.NewReader(data), Stdout: io.Discard, Stderr: io.Discard}, "-", update)
		if err != nil {
			return
		}
		if len(entries) == 0 {
			t.Fatal("accepted -data without entries")
		}
		for i, e := range entries {
			switch {
			case e == nil:
				t.Fatalf("accepted a null entry %d", i+1)
			case update && e.Id == "":
				t.Fatalf("accepted update entry %d without an id", i+1)
			}
		}
		printed, err := protojson.MarshalOptions{UseProtoNames: true}.Marshal(&entryv1.BatchCreateEntryRequest{Entries: entries})
		if err != nil {
			t.Fatalf("accepted entries cannot be printed as JSON: %v", err)
		}
		again, err := readEntryData(&command.Env{Stdin: bytes.NewReader(printed)}, "-", update)
		if err != nil {
			t.Fatalf("printed entries are refused as -data: %v\n%s", err, printed)
		}
		if d := diffEntries(entries, again); d != "" {
			t.Fatalf("printing and reading -data changes the entries: %s", d)
		}
	})
}

// FuzzParseSelector feeds -selector flags. An accepted selector must print back as the
// flag it came from, so `entry show` output can be pasted into `entry create`.
func FuzzParseSelector(f *testing.F) {
	for _, s := range []string{"unix:uid:1000", "k8s:ns:default", "k8s:pod-label:app:web", "unix", ":x", "x:", "unix:path:/usr/bin/a b", "unix:uid:1\nunix:uid:0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		sel, err := parseSelector(s)
		if err != nil {
			return
		}
		if sel.Type == "" || sel.Value == "" || strings.Contains(sel.Type, ":") {
			t.Fatalf("parsed %q as type %q value %q", s, sel.Type, sel.Value)
		}
		if got := selectorString(sel); got != s {
			t.Fatalf("selector %q prints as %q", s, got)
		}
		if back, err := parseSelector(selectorString(sel)); err != nil || back.Type != sel.Type || back.Value != sel.Value {
			t.Fatalf("printed selector %q does not parse back (%v)", selectorString(sel), err)
		}
	})
}
