package server

import (
	"context"
	"crypto"
	"crypto/x509"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/bundle/x509bundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"
	agentv1 "github.com/spiffe/spire-api-sdk/proto/spire/api/server/agent/v1"
	bundlev1 "github.com/spiffe/spire-api-sdk/proto/spire/api/server/bundle/v1"
	entryv1 "github.com/spiffe/spire-api-sdk/proto/spire/api/server/entry/v1"
	svidv1 "github.com/spiffe/spire-api-sdk/proto/spire/api/server/svid/v1"
	"github.com/spiffe/spire-api-sdk/proto/spire/api/types"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/lanyard-dev/lanyard/agent/attest"
	"github.com/lanyard-dev/lanyard/agent/client"
	"github.com/lanyard-dev/lanyard/attestors/jointoken"
	syncv1 "github.com/lanyard-dev/lanyard/proto/lanyard/agent/v1"
	"github.com/lanyard-dev/lanyard/server/config"
)

var testTD = spiffeid.RequireTrustDomainFromString("example.org")

type testServer struct {
	t     testing.TB
	cfg   config.Config
	srv   *Server
	admin *grpc.ClientConn
}

func newConfig(t testing.TB) config.Config {
	return newConfigFor(t, testTD.Name(), "")
}

// newConfigFor is a test configuration for trust domain td with extra YAML appended; the
// OIDC endpoint is off unless extra configures it.
func newConfigFor(t testing.TB, td, extra string) config.Config {
	t.Helper()
	dir := t.TempDir()
	// unix socket paths are short; t.TempDir() paths can be too long.
	sockDir, err := os.MkdirTemp("", "lanyard-srv-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(sockDir) })
	if !strings.Contains(extra, "oidc:") {
		extra += "oidc:\n  address: \"\"\n"
	}
	cfg, err := config.Parse([]byte("trust_domain: " + td + "\nbind_port: 0\nhealth_address: \"\"\n" +
		"data_dir: " + dir + "\nadmin_socket_path: " + filepath.Join(sockDir, "admin.sock") + "\n" + extra))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func startServer(t testing.TB, cfg config.Config) *testServer {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	srv, err := Start(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		cancel()
		t.Fatalf("starting server: %v", err)
	}
	admin, err := grpc.NewClient("unix://"+cfg.AdminSocketPath, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	ts := &testServer{t: t, cfg: cfg, srv: srv, admin: admin}
	t.Cleanup(func() { ts.stop(); cancel() })
	return ts
}

func (ts *testServer) stop() {
	ts.admin.Close()
	ts.srv.Stop()
	if err := ts.srv.Wait(); err != nil {
		ts.t.Errorf("server stopped with error: %v", err)
	}
}

func (ts *testServer) bundle() *x509bundle.Bundle {
	ts.t.Helper()
	b, err := bundlev1.NewBundleClient(ts.admin).GetBundle(context.Background(), &bundlev1.GetBundleRequest{})
	if err != nil {
		ts.t.Fatal(err)
	}
	var certs []*x509.Certificate
	for _, a := range b.X509Authorities {
		c, err := x509.ParseCertificate(a.Asn1)
		if err != nil {
			ts.t.Fatal(err)
		}
		certs = append(certs, c)
	}
	return x509bundle.FromX509Authorities(testTD, certs)
}

func (ts *testServer) token() string {
	ts.t.Helper()
	tok, err := agentv1.NewAgentClient(ts.admin).CreateJoinToken(context.Background(), &agentv1.CreateJoinTokenRequest{Ttl: 600})
	if err != nil {
		ts.t.Fatal(err)
	}
	return tok.Value
}

// attestedAgent attests over TCP with a fresh join token and returns a client using the agent SVID.
func (ts *testServer) attestedAgent() (*client.Client, spiffeid.ID) {
	ts.t.Helper()
	res := ts.attest()
	return ts.dialAs(res.Chain, res.Key), res.ID
}

// attest attests over TCP with a fresh join token and returns the agent SVID.
func (ts *testServer) attest() *attest.Result {
	ts.t.Helper()
	id := client.NewIdentity(testTD)
	id.SetBundle(ts.bundle())
	boot, err := client.Dial([]string{ts.srv.Addr().String()}, id)
	if err != nil {
		ts.t.Fatal(err)
	}
	defer boot.Close()
	res, err := attest.Attest(context.Background(), boot.Agent, jointoken.Prover{Token: ts.token()})
	if err != nil {
		ts.t.Fatalf("attesting: %v", err)
	}
	return res
}

// dialAs returns a client that presents the X.509-SVID chain on its own, new connection.
func (ts *testServer) dialAs(chain []*x509.Certificate, key crypto.Signer) *client.Client {
	ts.t.Helper()
	id := client.NewIdentity(testTD)
	if ts.cfg.Clock != nil {
		id.SetClock(ts.cfg.Clock) // the server's SVID is as fresh as its own clock says
	}
	id.SetBundle(ts.bundle())
	id.SetSVID(chain, key)
	c, err := client.Dial([]string{ts.srv.Addr().String()}, id)
	if err != nil {
		ts.t.Fatal(err)
	}
	ts.t.Cleanup(func() { c.Close() })
	return c
}

// openWatch opens c's entry push stream and receives the first (full) push.
func openWatch(t *testing.T, ctx context.Context, c *client.Client) syncv1.EntrySync_WatchClient {
	t.Helper()
	stream, err := c.Sync.Watch(ctx, &syncv1.WatchRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Recv(); err != nil {
		t.Fatalf("first push: %v", err)
	}
	return stream
}

func (ts *testServer) createEntries(entries ...*types.Entry) []*entryv1.BatchCreateEntryResponse_Result {
	ts.t.Helper()
	resp, err := entryv1.NewEntryClient(ts.admin).BatchCreateEntry(context.Background(), &entryv1.BatchCreateEntryRequest{Entries: entries})
	if err != nil {
		ts.t.Fatal(err)
	}
	return resp.Results
}

func entry(path string, parent spiffeid.ID, sel string) *types.Entry {
	typ, val, _ := strings.Cut(sel, ":")
	return &types.Entry{
		SpiffeId:  &types.SPIFFEID{TrustDomain: testTD.Name(), Path: path},
		ParentId:  &types.SPIFFEID{TrustDomain: parent.TrustDomain().Name(), Path: parent.Path()},
		Selectors: []*types.Selector{{Type: typ, Value: val}},
	}
}

func csrFor(t testing.TB, id string) []byte {
	t.Helper()
	var sid spiffeid.ID
	if id != "" {
		sid = spiffeid.RequireFromString(id)
	}
	_, csr, err := attest.NewKeyAndCSR(sid)
	if err != nil {
		t.Fatal(err)
	}
	return csr
}

func TestJoinTokenAttestationIssuesAgentSVID(t *testing.T) {
	ts := startServer(t, newConfig(t))
	id := client.NewIdentity(testTD)
	id.SetBundle(ts.bundle())
	c, err := client.Dial([]string{ts.srv.Addr().String()}, id)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	token := ts.token()
	res, err := attest.Attest(context.Background(), c.Agent, jointoken.Prover{Token: token})
	if err != nil {
		t.Fatal(err)
	}
	if want := "spiffe://example.org/spire/agent/join_token/" + token; res.ID.String() != want {
		t.Fatalf("agent ID = %s, want %s", res.ID, want)
	}
	if _, _, err := x509svid.Verify(res.Chain, ts.bundle()); err != nil {
		t.Fatalf("agent SVID does not chain to the bundle: %v", err)
	}

	t.Run("a join token works only once", func(t *testing.T) {
		_, err := attest.Attest(context.Background(), c.Agent, jointoken.Prover{Token: token})
		if status.Code(err) != codes.PermissionDenied || !strings.Contains(err.Error(), "already been used") {
			t.Fatalf("reusing the token: %v", err)
		}
	})
	t.Run("an unknown token is refused", func(t *testing.T) {
		_, err := attest.Attest(context.Background(), c.Agent, jointoken.Prover{Token: "never-issued"})
		if status.Code(err) != codes.PermissionDenied {
			t.Fatalf("unknown token: %v", err)
		}
	})
	t.Run("the agent is listed", func(t *testing.T) {
		a, err := agentv1.NewAgentClient(ts.admin).GetAgent(context.Background(), &agentv1.GetAgentRequest{Id: &types.SPIFFEID{TrustDomain: testTD.Name(), Path: res.ID.Path()}})
		if err != nil {
			t.Fatal(err)
		}
		if a.AttestationType != "join_token" || a.X509SvidSerialNumber != res.Chain[0].SerialNumber.String() {
			t.Fatalf("stored agent = %v", a)
		}
	})
}

func TestAgentsGetSVIDsOnlyForAuthorizedEntries(t *testing.T) {
	ts := startServer(t, newConfig(t))
	agentA, idA := ts.attestedAgent()
	_, idB := ts.attestedAgent()
	res := ts.createEntries(entry("/web", idA, "unix:uid:1000"), entry("/db", idB, "unix:uid:1001"))
	for _, r := range res {
		if codes.Code(r.Status.Code) != codes.OK {
			t.Fatalf("creating entries: %v", r.Status)
		}
	}
	webID, dbID := res[0].Entry.Id, res[1].Entry.Id

	mint := func(entryID string, csr []byte) *svidv1.BatchNewX509SVIDResponse_Result {
		t.Helper()
		resp, err := agentA.SVID.BatchNewX509SVID(context.Background(), &svidv1.BatchNewX509SVIDRequest{
			Params: []*svidv1.NewX509SVIDParams{{EntryId: entryID, Csr: csr}},
		})
		if err != nil {
			t.Fatal(err)
		}
		return resp.Results[0]
	}
	t.Run("an entry parented to the agent is minted", func(t *testing.T) {
		r := mint(webID, csrFor(t, ""))
		if codes.Code(r.Status.Code) != codes.OK {
			t.Fatalf("status %v", r.Status)
		}
		cert, err := x509.ParseCertificate(r.Svid.CertChain[0])
		if err != nil {
			t.Fatal(err)
		}
		if len(cert.URIs) != 1 || cert.URIs[0].String() != "spiffe://example.org/web" {
			t.Fatalf("URIs = %v", cert.URIs)
		}
	})
	t.Run("another agent's entry is refused", func(t *testing.T) {
		if r := mint(dbID, csrFor(t, "")); codes.Code(r.Status.Code) != codes.NotFound {
			t.Fatalf("status %v, want NotFound", r.Status)
		}
	})
	t.Run("a CSR naming another SPIFFE ID is refused", func(t *testing.T) {
		if r := mint(webID, csrFor(t, "spiffe://example.org/db")); codes.Code(r.Status.Code) != codes.InvalidArgument {
			t.Fatalf("status %v, want InvalidArgument", r.Status)
		}
	})
	t.Run("an agent cannot use admin methods", func(t *testing.T) {
		_, err := agentA.Entry.ListEntries(context.Background(), &entryv1.ListEntriesRequest{})
		if status.Code(err) != codes.PermissionDenied {
			t.Fatalf("ListEntries as agent: %v", err)
		}
	})
	t.Run("authorized entries are exactly the agent's", func(t *testing.T) {
		resp, err := agentA.Entry.GetAuthorizedEntries(context.Background(), &entryv1.GetAuthorizedEntriesRequest{})
		if err != nil {
			t.Fatal(err)
		}
		if len(resp.Entries) != 1 || resp.Entries[0].Id != webID {
			t.Fatalf("authorized = %v", resp.Entries)
		}
	})
	t.Run("a banned agent is shut out", func(t *testing.T) {
		_, err := agentv1.NewAgentClient(ts.admin).BanAgent(context.Background(), &agentv1.BanAgentRequest{Id: &types.SPIFFEID{TrustDomain: testTD.Name(), Path: idA.Path()}})
		if err != nil {
			t.Fatal(err)
		}
		_, err = agentA.SVID.BatchNewX509SVID(context.Background(), &svidv1.BatchNewX509SVIDRequest{Params: []*svidv1.NewX509SVIDParams{{EntryId: webID, Csr: csrFor(t, "")}}})
		if status.Code(err) != codes.PermissionDenied || !strings.Contains(err.Error(), "banned") {
			t.Fatalf("banned agent minting: %v", err)
		}
	})
}

func TestBatchCreateReportsBadItemsAndKeepsGoodOnes(t *testing.T) {
	ts := startServer(t, newConfig(t))
	parent := spiffeid.RequireFromString("spiffe://example.org/spire/agent/join_token/x")
	bad := entry("/elsewhere", parent, "unix:uid:1")
	bad.SpiffeId.TrustDomain = "evil.org"
	noSel := entry("/noselector", parent, "unix:uid:1")
	noSel.Selectors = nil
	res := ts.createEntries(entry("/ok", parent, "unix:uid:1"), bad, entry("/ok", parent, "unix:uid:1"), noSel, entry("/ok2", parent, "unix:uid:1"))
	if codes.Code(res[0].Status.Code) != codes.OK {
		t.Fatalf("good entry: %v", res[0].Status)
	}
	if codes.Code(res[1].Status.Code) != codes.InvalidArgument || !strings.Contains(res[1].Status.Message, "trust domain") {
		t.Fatalf("foreign trust domain: %v", res[1].Status)
	}
	if codes.Code(res[2].Status.Code) != codes.AlreadyExists {
		t.Fatalf("duplicate: %v", res[2].Status)
	}
	if codes.Code(res[3].Status.Code) != codes.InvalidArgument || !strings.Contains(res[3].Status.Message, "selector") {
		t.Fatalf("no selectors: %v", res[3].Status)
	}
	n, err := entryv1.NewEntryClient(ts.admin).CountEntries(context.Background(), &entryv1.CountEntriesRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if n.Count != 2 {
		t.Fatalf("count = %d, want 2 (the good ones)", n.Count)
	}
}

func TestStateSurvivesRestart(t *testing.T) {
	cfg := newConfig(t)
	ts := startServer(t, cfg)
	_, agentID := ts.attestedAgent()
	ts.createEntries(entry("/web", agentID, "unix:uid:1000"))
	before := ts.bundle().X509Authorities()
	ts.stop()

	ts2 := startServer(t, cfg)
	after := ts2.bundle().X509Authorities()
	if len(after) == 0 || !after[0].Equal(before[0]) {
		t.Fatal("the CA changed across a restart")
	}
	n, err := entryv1.NewEntryClient(ts2.admin).CountEntries(context.Background(), &entryv1.CountEntriesRequest{})
	if err != nil || n.Count != 1 {
		t.Fatalf("entries after restart: %v, %v", n, err)
	}
	if _, err := agentv1.NewAgentClient(ts2.admin).GetAgent(context.Background(), &agentv1.GetAgentRequest{Id: &types.SPIFFEID{TrustDomain: testTD.Name(), Path: agentID.Path()}}); err != nil {
		t.Fatalf("agent after restart: %v", err)
	}
}

func TestEvictionEndsTheAgentsOpenPushStream(t *testing.T) {
	ts := startServer(t, newConfig(t))
	agent, agentID := ts.attestedAgent()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	stream := openWatch(t, ctx, agent)
	_, err := agentv1.NewAgentClient(ts.admin).DeleteAgent(ctx, &agentv1.DeleteAgentRequest{Id: &types.SPIFFEID{TrustDomain: testTD.Name(), Path: agentID.Path()}})
	if err != nil {
		t.Fatal(err)
	}
	for {
		_, err := stream.Recv()
		if err == nil {
			continue
		}
		if status.Code(err) != codes.PermissionDenied || !strings.Contains(err.Error(), "not attested") {
			t.Fatalf("stream ended with %v, want PermissionDenied naming the eviction", err)
		}
		return
	}
}

// TestLargeBatchKeepsOrderAndPerItemVerdicts: a large batch is signed in parallel, yet
// each result must answer the item at the same index, good and bad items mixed.
// SPIRE's CLI sends a whole -data file as one request.
func TestOneBatchOfManyEntriesIsAccepted(t *testing.T) {
	ts := startServer(t, newConfig(t))
	_, agentID := ts.attestedAgent()
	var entries []*types.Entry
	for i := range 1100 {
		entries = append(entries, entry(fmt.Sprintf("/w/%d", i), agentID, fmt.Sprintf("unix:uid:%d", i)))
	}
	res := ts.createEntries(entries...)
	if len(res) != len(entries) {
		t.Fatalf("%d results for %d entries", len(res), len(entries))
	}
	for i, r := range res {
		if codes.Code(r.Status.Code) != codes.OK || r.Entry.SpiffeId.Path != fmt.Sprintf("/w/%d", i) {
			t.Fatalf("item %d: %v %v", i, r.Status, r.Entry)
		}
	}
	n, err := entryv1.NewEntryClient(ts.admin).CountEntries(t.Context(), &entryv1.CountEntriesRequest{})
	if err != nil || n.Count != 1100 {
		t.Fatalf("count %v, %v; want 1100", n, err)
	}
}

func TestLargeBatchKeepsOrderAndPerItemVerdicts(t *testing.T) {
	ts := startServer(t, newConfig(t))
	agentA, idA := ts.attestedAgent()
	_, idB := ts.attestedAgent()
	res := ts.createEntries(entry("/web", idA, "unix:uid:1000"), entry("/api", idA, "unix:uid:1001"), entry("/db", idB, "unix:uid:1002"))
	web, apiEntry, db := res[0].Entry.Id, res[1].Entry.Id, res[2].Entry.Id
	var params []*svidv1.NewX509SVIDParams
	var want []string // SPIFFE ID, or the expected failure code
	for i := 0; i < 100; i++ {
		switch i % 4 {
		case 0:
			params, want = append(params, &svidv1.NewX509SVIDParams{EntryId: web, Csr: csrFor(t, "")}), append(want, "spiffe://example.org/web")
		case 1:
			params, want = append(params, &svidv1.NewX509SVIDParams{EntryId: apiEntry, Csr: csrFor(t, "")}), append(want, "spiffe://example.org/api")
		case 2:
			params, want = append(params, &svidv1.NewX509SVIDParams{EntryId: db, Csr: csrFor(t, "")}), append(want, codes.NotFound.String())
		case 3:
			params, want = append(params, &svidv1.NewX509SVIDParams{EntryId: web, Csr: []byte("not a CSR")}), append(want, codes.InvalidArgument.String())
		}
	}
	resp, err := agentA.SVID.BatchNewX509SVID(context.Background(), &svidv1.BatchNewX509SVIDRequest{Params: params})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Results) != len(params) {
		t.Fatalf("%d results for %d items", len(resp.Results), len(params))
	}
	for i, r := range resp.Results {
		got := codes.Code(r.Status.Code).String()
		if r.Svid != nil {
			cert, err := x509.ParseCertificate(r.Svid.CertChain[0])
			if err != nil {
				t.Fatal(err)
			}
			got = cert.URIs[0].String()
			pub, _ := x509.ParsePKIXPublicKey(cert.RawSubjectPublicKeyInfo)
			csr, _ := x509.ParseCertificateRequest(params[i].Csr)
			if !pub.(interface{ Equal(crypto.PublicKey) bool }).Equal(csr.PublicKey) {
				t.Fatalf("item %d: SVID carries another item's public key", i)
			}
		}
		if got != want[i] {
			t.Fatalf("item %d: got %s, want %s", i, got, want[i])
		}
	}
}

func TestAgentVersionFromPostStatusIsShown(t *testing.T) {
	ts := startServer(t, newConfig(t))
	agent, id := ts.attestedAgent()
	if _, err := agent.Agent.PostStatus(t.Context(), &agentv1.PostStatusRequest{CurrentBundleSerial: 1, AgentVersion: "spire-agent 1.14.0"}); err != nil {
		t.Fatal(err)
	}
	got, err := agentv1.NewAgentClient(ts.admin).GetAgent(t.Context(), &agentv1.GetAgentRequest{Id: &types.SPIFFEID{TrustDomain: id.TrustDomain().Name(), Path: id.Path()}})
	if err != nil || got.AgentVersion != "spire-agent 1.14.0" {
		t.Fatalf("agent %v, %v; want version spire-agent 1.14.0", got, err)
	}
	_, err = agent.Agent.PostStatus(t.Context(), &agentv1.PostStatusRequest{AgentVersion: "1.0\n2.0"})
	if status.Code(err) != codes.InvalidArgument {
		t.Fatalf("a version with a newline: %v, want InvalidArgument", err)
	}
	if _, err := agentv1.NewAgentClient(ts.admin).PostStatus(t.Context(), &agentv1.PostStatusRequest{AgentVersion: "x"}); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("PostStatus from the admin socket: %v, want PermissionDenied", err)
	}
}

func TestErrorsSpeakTheCallersTermsNotTheDatastores(t *testing.T) {
	ts := startServer(t, newConfig(t))
	_, agentID := ts.attestedAgent()
	ts.createEntries(entry("/web", agentID, "unix:uid:1000"))
	dup := ts.createEntries(entry("/web", agentID, "unix:uid:1000"))[0].Status
	if codes.Code(dup.Code) != codes.AlreadyExists || !strings.Contains(dup.Message, "similar entry already exists") || strings.Contains(dup.Message, "sqlite") {
		t.Errorf("duplicate entry: %v", dup)
	}
	_, err := agentv1.NewAgentClient(ts.admin).GetAgent(t.Context(), &agentv1.GetAgentRequest{Id: &types.SPIFFEID{TrustDomain: testTD.Name(), Path: "/spire/agent/join_token/nobody"}})
	if st := status.Convert(err); st.Code() != codes.NotFound || !strings.Contains(st.Message(), "not found") || strings.Contains(st.Message(), "sqlite") {
		t.Errorf("unknown agent: %v", err)
	}
	_, err = entryv1.NewEntryClient(ts.admin).GetEntry(t.Context(), &entryv1.GetEntryRequest{Id: "no-such-entry"})
	if st := status.Convert(err); st.Code() != codes.NotFound || strings.Contains(st.Message(), "sqlite") || strings.Contains(st.Message(), "not found: not found") {
		t.Errorf("unknown entry: %v", err)
	}
}
