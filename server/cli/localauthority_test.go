package cli

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"
)

// authorityID reads the first "Authority ID:" under a title in the pretty output.
func authorityID(t *testing.T, out, title string) string {
	t.Helper()
	_, rest, ok := strings.Cut(out, title)
	m := regexp.MustCompile(`Authority ID: (\S+)`).FindStringSubmatch(rest)
	if !ok || m == nil {
		t.Fatalf("no authority under %q in:\n%s", title, out)
	}
	return m[1]
}

// The whole forced rotation from the command line, as SPIRE's runbooks write it, for both
// kinds of authority, with the refusals an operator meets on the way.
func TestLocalAuthorityCommandsRotateByHand(t *testing.T) {
	h := newHarness(t)
	for _, kind := range []struct{ cmd, name string }{{"x509", "X.509"}, {"jwt", "JWT"}} {
		show := h.run("localauthority", kind.cmd, "show").wantOK(t).stdout
		for _, want := range []string{"Active " + kind.name + " authority:\n  Authority ID: ", "Prepared " + kind.name + " authority:\n  No prepared " + kind.name + " authority found",
			"Old " + kind.name + " authority:\n  No old " + kind.name + " authority found"} {
			if !strings.Contains(show, want) {
				t.Fatalf("%s show lacks %q:\n%s", kind.cmd, want, show)
			}
		}
		first := authorityID(t, show, "Active")
		h.run("localauthority", kind.cmd, "taint", "-authorityID", first).wantError(t, "is the active one")
		h.run("localauthority", kind.cmd, "taint").wantError(t, "no authority ID given")

		prepared := authorityID(t, h.run("localauthority", kind.cmd, "prepare").wantOK(t).stdout, "Prepared "+kind.name+" authority:")
		h.run("localauthority", kind.cmd, "activate", "-authorityID", prepared).wantOK(t)
		h.run("localauthority", kind.cmd, "revoke", "-authorityID", first).wantError(t, "is not tainted")
		out := h.run("localauthority", kind.cmd, "taint", "-authorityID", first).wantOK(t).stdout
		if !strings.HasPrefix(out, "Tainted "+kind.name+" authority:\n  Authority ID: "+first) {
			t.Fatalf("%s taint printed:\n%s", kind.cmd, out)
		}
		var state struct {
			Active, Old struct {
				AuthorityID string `json:"authority_id"`
			}
		}
		if err := json.Unmarshal([]byte(h.run("localauthority", kind.cmd, "show", "-output", "json").wantOK(t).stdout), &state); err != nil {
			t.Fatal(err)
		}
		if state.Active.AuthorityID != prepared || state.Old.AuthorityID != first {
			t.Fatalf("%s show -output json after activate: %+v", kind.cmd, state)
		}
		h.run("localauthority", kind.cmd, "revoke", "-authorityID", first).wantOK(t)
		h.run("localauthority", kind.cmd, "revoke", "-authorityID", first).wantError(t, "NotFound")
	}
	h.run("upstreamauthority", "taint", "-subjectKeyID", "00ff").wantError(t, "upstream authority is not configured")
}
