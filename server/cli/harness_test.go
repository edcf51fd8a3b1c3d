package cli

import (
	"bytes"
	"context"
	"crypto/x509"
	"os"
	"path/filepath"
	"strings"
	"testing"

	bundlev1 "github.com/spiffe/spire-api-sdk/proto/spire/api/server/bundle/v1"
	entryv1 "github.com/spiffe/spire-api-sdk/proto/spire/api/server/entry/v1"
	"github.com/spiffe/spire-api-sdk/proto/spire/api/types"

	"github.com/lanyard-dev/lanyard/internal/command"
	"github.com/lanyard-dev/lanyard/internal/spireid"
	"github.com/lanyard-dev/lanyard/server"
	"github.com/lanyard-dev/lanyard/server/servertest"
)

const testTrustDomain = "example.org"

// harness runs the CLI against the real lanyard-server in-process (servertest: memory
// keys, a real SQLite file, the admin API on a temp unix socket).
type harness struct {
	t    *testing.T
	sock string
	srv  *servertest.Server
}

type result struct {
	stdout, stderr string
	code           int
}

func newHarness(t *testing.T, opts ...server.Option) *harness {
	t.Helper()
	srv := servertest.Start(t, servertest.WithTrustDomain(testTrustDomain), servertest.WithServerOptions(opts...))
	return &harness{t: t, sock: srv.SocketPath, srv: srv}
}

// newUnreachable is a harness whose socket nobody listens on: a command that fails with
// anything but "cannot reach" did not try to call a server.
func newUnreachable(t *testing.T) *harness {
	return &harness{t: t, sock: filepath.Join(shortTempDir(t), "admin.sock")}
}

// shortTempDir is a fresh directory with a short path: test names make t.TempDir() too
// long for the 108-byte unix socket limit.
func shortTempDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "lanyard-cli-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	return dir
}

// run executes the CLI with -socketPath pointing at the harness, inserted right after the
// command words so the rest of args reads like what a user types.
func (h *harness) run(args ...string) result {
	return h.runStdin("", args...)
}

func (h *harness) runStdin(stdin string, args ...string) result {
	h.t.Helper()
	if at := table.Lookup(args); at > 0 {
		args = append(append(append([]string{}, args[:at]...), "-socketPath", h.sock), args[at:]...)
	}
	return runCLI(stdin, args...)
}

func runCLI(stdin string, args ...string) result {
	var out, errOut bytes.Buffer
	code := table.Run(context.Background(), &command.Env{Stdin: strings.NewReader(stdin), Stdout: &out, Stderr: &errOut}, args)
	return result{stdout: out.String(), stderr: errOut.String(), code: code}
}

// wantOK fails the test unless the command succeeded without writing to stderr.
func (r result) wantOK(t *testing.T) result {
	t.Helper()
	if r.code != 0 || r.stderr != "" {
		t.Fatalf("exit %d, stderr %q, stdout %q; want success", r.code, r.stderr, r.stdout)
	}
	return r
}

// wantError fails the test unless the command exited 1 with exactly one stderr line that
// starts with "Error: " and contains want.
func (r result) wantError(t *testing.T, want string) {
	t.Helper()
	if r.code != 1 {
		t.Fatalf("exit %d, stderr %q; want exit 1", r.code, r.stderr)
	}
	lines := strings.Split(strings.TrimSuffix(r.stderr, "\n"), "\n")
	if len(lines) != 1 || !strings.HasPrefix(lines[0], "Error: ") || !strings.HasSuffix(r.stderr, "\n") {
		t.Fatalf("stderr %q; want one line starting with \"Error: \"", r.stderr)
	}
	if !strings.Contains(lines[0], want) {
		t.Fatalf("stderr %q; want it to contain %q", lines[0], want)
	}
}

// api is a client of the harness's admin API, to set up and inspect the server beside
// the CLI.
func (h *harness) api() *client {
	h.t.Helper()
	cl, err := dial(h.t.Context(), h.sock)
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(cl.Close)
	return cl
}

// addEntries creates entries through the API and returns them as stored.
func (h *harness) addEntries(entries ...*types.Entry) []*types.Entry {
	h.t.Helper()
	resp, err := h.api().entries.BatchCreateEntry(h.t.Context(), &entryv1.BatchCreateEntryRequest{Entries: entries})
	if err != nil {
		h.t.Fatal(err)
	}
	var out []*types.Entry
	for _, r := range resp.Results {
		if itemFailed(r.Status) {
			h.t.Fatalf("creating an entry: %s", itemError(r.Status))
		}
		out = append(out, r.Entry)
	}
	return out
}

// storedEntries lists every entry the server holds.
func (h *harness) storedEntries() []*types.Entry {
	h.t.Helper()
	cl := h.api()
	req := &entryv1.ListEntriesRequest{}
	entries, err := listAll("list", &req.PageToken, func() ([]*types.Entry, string, error) {
		resp, err := cl.entries.ListEntries(h.t.Context(), req)
		return resp.GetEntries(), resp.GetNextPageToken(), err
	})
	if err != nil {
		h.t.Fatal(err)
	}
	return entries
}

// addFederatedBundle stores a bundle of one CA for td, so entries may federate with it.
func (h *harness) addFederatedBundle(td string) *x509.Certificate {
	h.t.Helper()
	ca := newCA(h.t, td)
	resp, err := h.api().bundles.BatchSetFederatedBundle(h.t.Context(), &bundlev1.BatchSetFederatedBundleRequest{
		Bundle: []*types.Bundle{{TrustDomain: td, X509Authorities: []*types.X509Certificate{{Asn1: ca.Raw}}}}})
	if err != nil || itemFailed(resp.Results[0].Status) {
		h.t.Fatalf("setting the bundle of %s: %v %v", td, err, resp)
	}
	return ca
}

// attestAgent attests a new agent with a join token over the server's agent API, as
// lanyard-agent does, and returns its SPIFFE ID.
func (h *harness) attestAgent() *types.SPIFFEID {
	h.t.Helper()
	return spireid.ToProto(h.srv.AttestAgent().ID)
}
