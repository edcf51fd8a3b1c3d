package agent

import (
	"context"
	"crypto"
	"crypto/x509"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	delegatedv1 "github.com/spiffe/spire-api-sdk/proto/spire/api/agent/delegatedidentity/v1"
	entryv1 "github.com/spiffe/spire-api-sdk/proto/spire/api/server/entry/v1"
	"github.com/spiffe/spire-api-sdk/proto/spire/api/types"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/lanyard-dev/lanyard/agent/config"
)

// delegateCfg is an agent configuration with an admin socket and spiffe://TD/delegate as
// its one authorized delegate.
func (e *env) delegateCfg() (config.Config, spiffeid.ID) {
	e.t.Helper()
	cfg, agentID := e.agentConfig()
	dir, err := os.MkdirTemp("", "lanyard-admin-")
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { os.RemoveAll(dir) })
	cfg.AdminSocketPath = filepath.Join(dir, "agent.sock")
	cfg.AuthorizedDelegates = []string{"spiffe://" + testTD + "/delegate"}
	if err := cfg.Validate(); err != nil {
		e.t.Fatal(err)
	}
	return cfg, agentID
}

// createEntries registers entries under parent and returns their IDs.
func (e *env) createEntries(parent spiffeid.ID, entries ...*types.Entry) []string {
	e.t.Helper()
	var ids []string
	for batch := range slices.Chunk(entries, 1000) {
		for _, en := range batch {
			en.ParentId = &types.SPIFFEID{TrustDomain: testTD, Path: parent.Path()}
		}
		resp, err := entryv1.NewEntryClient(e.admin).BatchCreateEntry(e.t.Context(), &entryv1.BatchCreateEntryRequest{Entries: batch})
		if err != nil {
			e.t.Fatal(err)
		}
		for _, r := range resp.Results {
			if r.Status.Code != 0 {
				e.t.Fatalf("creating an entry: %v", r.Status)
			}
			ids = append(ids, r.Entry.Id)
		}
	}
	return ids
}

func (e *env) deleteEntries(ids ...string) {
	e.t.Helper()
	if _, err := entryv1.NewEntryClient(e.admin).BatchDeleteEntry(e.t.Context(), &entryv1.BatchDeleteEntryRequest{Ids: ids}); err != nil {
		e.t.Fatal(err)
	}
}

func workloadEntry(name string, uid int, mod ...func(*types.Entry)) *types.Entry {
	en := &types.Entry{
		SpiffeId:  &types.SPIFFEID{TrustDomain: testTD, Path: "/" + name},
		Selectors: []*types.Selector{{Type: "unix", Value: fmt.Sprintf("uid:%d", uid)}},
	}
	for _, m := range mod {
		m(en)
	}
	return en
}

// delegatedClient is spire-api-sdk's generated client on the agent's admin socket, as
// Cilium dials it (a 20 MiB receive limit).
// Close the connection before checking for leaked goroutines.
func delegatedClient(t *testing.T, sock string) (delegatedv1.DelegatedIdentityClient, *grpc.ClientConn) {
	t.Helper()
	conn, err := grpc.NewClient("unix://"+sock, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(20<<20)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return delegatedv1.NewDelegatedIdentityClient(conn), conn
}

// svidStream is an open SubscribeToX509SVIDs stream whose messages arrive on a channel.
type svidStream struct {
	msgs   chan *delegatedv1.SubscribeToX509SVIDsResponse
	err    chan error
	cancel context.CancelFunc
}

func subscribe(t *testing.T, c delegatedv1.DelegatedIdentityClient, req *delegatedv1.SubscribeToX509SVIDsRequest) *svidStream {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	stream, err := c.SubscribeToX509SVIDs(ctx, req)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	s := &svidStream{msgs: make(chan *delegatedv1.SubscribeToX509SVIDsResponse, 100), err: make(chan error, 1), cancel: cancel}
	t.Cleanup(cancel)
	go func() {
		for {
			m, err := stream.Recv()
			if err != nil {
				s.err <- err
				return
			}
			s.msgs <- m
		}
	}()
	return s
}

// until returns the first message that satisfies ok, failing on a stream error.
func (s *svidStream) until(t *testing.T, what string, ok func(*delegatedv1.SubscribeToX509SVIDsResponse) bool) *delegatedv1.SubscribeToX509SVIDsResponse {
	t.Helper()
	deadline := time.After(5 * time.Minute) // a failure bound: 12,000 SVIDs on a busy machine
	for {
		select {
		case m := <-s.msgs:
			if ok(m) {
				return m
			}
		case err := <-s.err:
			t.Fatalf("waiting for %s: the stream ended: %v", what, err)
		case <-deadline:
			t.Fatalf("no message with %s", what)
		}
	}
}

// ended waits for the stream to end and returns its error; a message first fails the test.
func (s *svidStream) ended(t *testing.T, allowed func(*delegatedv1.SubscribeToX509SVIDsResponse) bool) error {
	t.Helper()
	deadline := time.After(2 * time.Minute)
	for {
		select {
		case m := <-s.msgs:
			if !allowed(m) {
				t.Fatalf("a message before the stream ended: %s", names(m))
			}
		case err := <-s.err:
			return err
		case <-deadline:
			t.Fatal("the stream did not end")
		}
	}
}

// names lists the SPIFFE IDs of a message's SVIDs.
func names(m *delegatedv1.SubscribeToX509SVIDsResponse) string {
	var out []string
	for _, s := range m.X509Svids {
		out = append(out, s.X509Svid.Id.Path)
	}
	slices.Sort(out)
	return strings.Join(out, " ")
}

// serials maps each SVID's path to its leaf's serial, checking the SVID on the way.
func serials(t *testing.T, m *delegatedv1.SubscribeToX509SVIDsResponse) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, s := range m.X509Svids {
		leaf, err := x509.ParseCertificate(s.X509Svid.CertChain[0])
		if err != nil {
			t.Fatal(err)
		}
		key, err := x509.ParsePKCS8PrivateKey(s.X509SvidKey)
		if err != nil {
			t.Fatal(err)
		}
		signer, ok := key.(crypto.Signer)
		if !ok || !signer.Public().(interface{ Equal(crypto.PublicKey) bool }).Equal(leaf.PublicKey) ||
			leaf.URIs[0].Path != s.X509Svid.Id.Path || leaf.NotAfter.Unix() != s.X509Svid.ExpiresAt {
			t.Fatalf("SVID %s: key, URI or expiry does not match its certificate", s.X509Svid.Id.Path)
		}
		out[s.X509Svid.Id.Path] = leaf.SerialNumber.String()
	}
	return out
}

// refusedEverything calls each method of the API and wants PermissionDenied, with no
// message before it.
func refusedEverything(t *testing.T, c delegatedv1.DelegatedIdentityClient) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	svids, err := c.SubscribeToX509SVIDs(ctx, &delegatedv1.SubscribeToX509SVIDsRequest{Selectors: []*types.Selector{{Type: "unix", Value: "uid:1001"}}})
	if err == nil {
		var m *delegatedv1.SubscribeToX509SVIDsResponse
		m, err = svids.Recv()
		if m != nil {
			t.Fatalf("SubscribeToX509SVIDs sent %s to a caller that is not a delegate", names(m))
		}
	}
	wantCode(t, "SubscribeToX509SVIDs", codes.PermissionDenied, err)
	x509b, err := c.SubscribeToX509Bundles(ctx, &delegatedv1.SubscribeToX509BundlesRequest{})
	if err == nil {
		var m *delegatedv1.SubscribeToX509BundlesResponse
		if m, err = x509b.Recv(); m != nil {
			t.Fatal("SubscribeToX509Bundles sent bundles to a caller that is not a delegate")
		}
	}
	wantCode(t, "SubscribeToX509Bundles", codes.PermissionDenied, err)
	jwtb, err := c.SubscribeToJWTBundles(ctx, &delegatedv1.SubscribeToJWTBundlesRequest{})
	if err == nil {
		var m *delegatedv1.SubscribeToJWTBundlesResponse
		if m, err = jwtb.Recv(); m != nil {
			t.Fatal("SubscribeToJWTBundles sent bundles to a caller that is not a delegate")
		}
	}
	wantCode(t, "SubscribeToJWTBundles", codes.PermissionDenied, err)
	resp, err := c.FetchJWTSVIDs(ctx, &delegatedv1.FetchJWTSVIDsRequest{Audience: []string{"a"}, Selectors: []*types.Selector{{Type: "unix", Value: "uid:1001"}}})
	if resp != nil {
		t.Fatal("FetchJWTSVIDs answered a caller that is not a delegate")
	}
	wantCode(t, "FetchJWTSVIDs", codes.PermissionDenied, err)
}

// startAsUser runs sleep as uid: a real process for the agent to attest by PID.
func startAsUser(t *testing.T, uid int) *exec.Cmd {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to run a workload process as another uid")
	}
	cmd := exec.Command("sleep", "600")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(uid)}}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	return cmd
}
