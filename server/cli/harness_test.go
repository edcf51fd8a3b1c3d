package cli

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spiffe/go-spiffe/v2/bundle/x509bundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/spiffetls/tlsconfig"
	agentv1 "github.com/spiffe/spire-api-sdk/proto/spire/api/server/agent/v1"
	bundlev1 "github.com/spiffe/spire-api-sdk/proto/spire/api/server/bundle/v1"
	entryv1 "github.com/spiffe/spire-api-sdk/proto/spire/api/server/entry/v1"
	"github.com/spiffe/spire-api-sdk/proto/spire/api/types"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/lanyard-dev/lanyard/internal/command"
	"github.com/lanyard-dev/lanyard/server"
	"github.com/lanyard-dev/lanyard/server/config"
)

const testTrustDomain = "example.org"

// harness runs the CLI against the real lanyard-server in-process: memory keys, a real
// SQLite file, the admin API on a temp unix socket.
type harness struct {
	t    *testing.T
	sock string
	srv  *server.Server
}

type result struct {
	stdout, stderr string
	code           int
}

func newHarness(t *testing.T, opts ...server.Option) *harness {
	t.Helper()
	dir := shortTempDir(t)
	sock := filepath.Join(dir, "admin.sock")
	cfg, err := config.Parse([]byte("trust_domain: " + testTrustDomain + "\nbind_port: 0\nhealth_address: \"\"\nkey_manager: memory\n" +
		"oidc:\n  address: \"\"\ndata_dir: " + filepath.Join(dir, "data") + "\nadmin_socket_path: " + sock + "\n"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	srv, err := server.Start(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), opts...)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		if err := srv.Wait(); err != nil {
			t.Errorf("server: %v", err)
		}
	})
	return &harness{t: t, sock: sock, srv: srv}
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
	ctx := h.t.Context()
	cl := h.api()
	token, err := cl.agents.CreateJoinToken(ctx, &agentv1.CreateJoinTokenRequest{Ttl: 600})
	if err != nil {
		h.t.Fatal(err)
	}
	own, err := cl.bundles.GetBundle(ctx, &bundlev1.GetBundleRequest{})
	if err != nil {
		h.t.Fatal(err)
	}
	var roots []*x509.Certificate
	for _, a := range own.X509Authorities {
		c, err := x509.ParseCertificate(a.Asn1)
		if err != nil {
			h.t.Fatal(err)
		}
		roots = append(roots, c)
	}
	td := spiffeid.RequireTrustDomainFromString(testTrustDomain)
	tlsConf := tlsconfig.TLSClientConfig(x509bundle.FromX509Authorities(td, roots), tlsconfig.AuthorizeID(spiffeid.RequireFromPath(td, "/spire/server")))
	conn, err := grpc.NewClient(h.srv.Addr().String(), grpc.WithTransportCredentials(credentials.NewTLS(tlsConf)))
	if err != nil {
		h.t.Fatal(err)
	}
	defer conn.Close()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		h.t.Fatal(err)
	}
	csr, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{}, key)
	if err != nil {
		h.t.Fatal(err)
	}
	stream, err := agentv1.NewAgentClient(conn).AttestAgent(ctx)
	if err != nil {
		h.t.Fatal(err)
	}
	if err := stream.Send(&agentv1.AttestAgentRequest{Step: &agentv1.AttestAgentRequest_Params_{Params: &agentv1.AttestAgentRequest_Params{
		Data:   &types.AttestationData{Type: "join_token", Payload: []byte(token.Value)},
		Params: &agentv1.AgentX509SVIDParams{Csr: csr},
	}}}); err != nil {
		h.t.Fatal(err)
	}
	resp, err := stream.Recv()
	if err != nil {
		h.t.Fatalf("attesting with a join token: %v", err)
	}
	return resp.GetResult().GetSvid().GetId()
}
