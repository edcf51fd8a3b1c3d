package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/bundle/spiffebundle"
	"github.com/spiffe/go-spiffe/v2/bundle/x509bundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/svid/jwtsvid"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"
)

// TestAdminMintsSVIDs: `x509 mint -write` leaves an SVID, its key (0600) and the bundle
// that verify with go-spiffe; `jwt mint` prints a token that the server's bundle verifies.
func TestAdminMintsSVIDs(t *testing.T) {
	requireRoot(t)
	d := newDomain(t, "mint.example")
	d.startServer()
	dir := filepath.Join(d.dir, "minted")
	d.cli("x509", "mint", "-spiffeID", d.id("batch-job"), "-dns", "job.example.org", "-ttl", "600", "-write", dir)

	svid, err := x509svid.Load(filepath.Join(dir, "svid.pem"), filepath.Join(dir, "key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	bundle, err := x509bundle.Load(spiffeid.RequireTrustDomainFromString("mint.example"), filepath.Join(dir, "bundle.pem"))
	if err != nil {
		t.Fatal(err)
	}
	id, _, err := x509svid.Verify(svid.Certificates, bundle)
	if err != nil || id.String() != d.id("batch-job") {
		t.Fatalf("minted SVID: %v, %v", id, err)
	}
	if got := svid.Certificates[0].DNSNames; len(got) != 1 || got[0] != "job.example.org" {
		t.Fatalf("DNS names %v", got)
	}
	if fi, err := os.Stat(filepath.Join(dir, "key.pem")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key.pem mode %v (%v); want 0600", fi.Mode().Perm(), err)
	}

	token := strings.TrimSpace(d.cli("jwt", "mint", "-spiffeID", d.id("batch-job"), "-audience", "vault"))
	doc, err := spiffebundle.Parse(spiffeid.RequireTrustDomainFromString("mint.example"), []byte(d.cli("bundle", "show", "-format", "spiffe")))
	if err != nil {
		t.Fatal(err)
	}
	if s, err := jwtsvid.ParseAndValidate(token, doc, []string{"vault"}); err != nil || s.ID.String() != d.id("batch-job") {
		t.Fatalf("jwt mint printed %q: %v", token, err)
	}

	t.Run("bad input is refused with one line", func(t *testing.T) {
		for _, args := range [][]string{
			{"x509", "mint", "-spiffeID", "spiffe://other.example/x"},
			{"x509", "mint"},
			{"jwt", "mint", "-spiffeID", d.id("x")},
		} {
			out, err := run(t, "lanyard-server", 0, nil, append(args, "-socketPath", d.adminSock)...)
			if err == nil {
				t.Fatalf("%v succeeded: %s", args, out)
			}
		}
	})
}

// TestAgentWatchPrintsPushedUpdates: `lanyard-agent api watch` shows each update the
// agent pushes, here a second identity arriving for the same process.
func TestAgentWatchPrintsPushedUpdates(t *testing.T) {
	requireRoot(t)
	d := newDomain(t, "watch.example")
	d.startServer()
	d.startAgent()
	d.entry("first", uidLate)
	w := start(t, "lanyard-agent", uidLate, nil, "api", "watch", "-count", "2", "-socketPath", d.socket)
	eventually(t, 30*time.Second, "the first update", func() bool { return strings.Contains(w.Output(), d.id("first")) })
	d.cli("entry", "create", "-parentID", d.agentID, "-spiffeID", d.id("second"), "-selector", "unix:uid:41005", "-selector", "unix:gid:41005")
	select {
	case <-w.done:
	case <-time.After(30 * time.Second):
		t.Fatalf("watch did not stop after two updates:\n%s", w.Output())
	}
	if w.err != nil || !strings.Contains(w.Output(), "Update 2") || !strings.Contains(w.Output(), d.id("second")) {
		t.Fatalf("watch: %v\n%s", w.err, w.Output())
	}
}
