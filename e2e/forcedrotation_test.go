package e2e

import (
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

const uidForced = 41301

// lastLine returns the fields after prefix of the last line of out that starts with it.
func lastLine(out, prefix string) []string {
	ls := lines(out, prefix)
	if len(ls) == 0 {
		return nil
	}
	return strings.Fields(ls[len(ls)-1])[1:]
}

var authorityIDRe = regexp.MustCompile(`Authority ID: (\S+)`)

// firstAuthorityID is the first "Authority ID:" after title in a localauthority output.
func firstAuthorityID(t *testing.T, out, title string) string {
	t.Helper()
	_, rest, _ := strings.Cut(out, title)
	m := authorityIDRe.FindStringSubmatch(rest)
	if m == nil {
		t.Fatalf("no authority ID under %q in:\n%s", title, out)
	}
	return m[1]
}

// TestForcedRotationReachesWorkloads rotates the X.509 CA by hand with real processes: a
// go-spiffe workload watching its X.509 context gets an SVID from the new CA on its open
// stream as soon as the old CA is tainted (the SVID's lifetime is an hour: this is not
// renewal), and stops trusting the old CA once it is revoked. SPIRE's own CLI reads the
// same authority state.
func TestForcedRotationReachesWorkloads(t *testing.T) {
	requireRoot(t)
	d := newDomain(t, "forced.example")
	d.startServer()
	d.startAgent()
	d.entry("rotated", uidForced)
	w := d.workload(uidForced, "watch")
	eventually(t, 30*time.Second, "the workload's first X.509 update", func() bool { return len(lastLine(w.Output(), "issuers ")) == 1 })

	old := firstAuthorityID(t, d.cli("localauthority", "x509", "show"), "Active X.509 authority:")
	if got := lastLine(w.Output(), "issuers "); got[0] != d.id("rotated")+"="+old {
		t.Fatalf("the workload's SVID comes from %s, want the active CA %s", got[0], old)
	}
	prepared := firstAuthorityID(t, d.cli("localauthority", "x509", "prepare"), "Prepared X.509 authority:")
	d.cli("localauthority", "x509", "activate", "-authorityID", prepared)
	if out, err := run(t, "lanyard-server", 0, nil, "localauthority", "x509", "taint", "-authorityID", prepared, "-socketPath", d.adminSock); err == nil ||
		!strings.Contains(out+err.Error(), "active") {
		t.Fatalf("tainting the active CA: %q, %v; want a refusal naming it active", out, err)
	}

	t.Run("SPIRE's CLI shows the authorities", func(t *testing.T) {
		spire := spireBinary(t, "spire-server")
		out, err := runCommand(t, spire, 0, nil, "localauthority", "x509", "show", "-socketPath", d.adminSock)
		if err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		if firstAuthorityID(t, out, "Active X.509 authority:") != prepared || firstAuthorityID(t, out, "Old X.509 authority:") != old {
			t.Fatalf("spire-server localauthority x509 show, want active %s and old %s:\n%s", prepared, old, out)
		}
	})

	d.cli("localauthority", "x509", "taint", "-authorityID", old)
	eventually(t, 30*time.Second, "the workload's open stream to deliver an SVID from the new CA", func() bool {
		got := lastLine(w.Output(), "issuers ")
		return len(got) == 1 && got[0] == d.id("rotated")+"="+prepared
	})
	if cas := lastLine(w.Output(), "authorities "); !slices.Contains(cas, old) {
		t.Fatalf("the tainted CA left the workload's bundle before being revoked: %v", cas)
	}

	d.cli("localauthority", "x509", "revoke", "-authorityID", old)
	eventually(t, 30*time.Second, "the revoked CA to leave the workload's bundle", func() bool {
		cas := lastLine(w.Output(), "authorities ")
		return len(cas) > 0 && !slices.Contains(cas, old) && slices.Contains(cas, prepared)
	})
	if strings.Contains(d.cli("localauthority", "x509", "show"), old) {
		t.Fatal("the revoked CA is still this server's old authority")
	}
}
