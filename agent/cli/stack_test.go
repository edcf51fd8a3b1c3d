package cli

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	agentv1 "github.com/spiffe/spire-api-sdk/proto/spire/api/server/agent/v1"
	bundlev1 "github.com/spiffe/spire-api-sdk/proto/spire/api/server/bundle/v1"
	entryv1 "github.com/spiffe/spire-api-sdk/proto/spire/api/server/entry/v1"
	"github.com/spiffe/spire-api-sdk/proto/spire/api/types"

	"github.com/lanyard-dev/lanyard/agent"
	agentconfig "github.com/lanyard-dev/lanyard/agent/config"
	"github.com/lanyard-dev/lanyard/internal/bundleconv"
	"github.com/lanyard-dev/lanyard/internal/command"
	"github.com/lanyard-dev/lanyard/internal/freeport"
	"github.com/lanyard-dev/lanyard/internal/loglevel"
	"github.com/lanyard-dev/lanyard/internal/poll"
	"github.com/lanyard-dev/lanyard/server/servertest"
)

const (
	trustDomain = "example.org"
	workloadID  = "spiffe://example.org/workload"
)

// stack is a real lanyard-server and a real lanyard-agent in-process (memory keys, SQLite,
// join token attestation), with an entry giving this test process workloadID.
type stack struct {
	apiSock, adminSock, healthAddr string
	levels                         *loglevel.Control
	bundle                         *types.Bundle
}

func startStack(t *testing.T) *stack {
	t.Helper()
	dir, err := os.MkdirTemp("", "lanyard-acli-") // short: unix socket paths are limited
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))

	srv := servertest.Start(t, servertest.WithTrustDomain(trustDomain))
	conn := srv.Admin
	token, err := agentv1.NewAgentClient(conn).CreateJoinToken(t.Context(), &agentv1.CreateJoinTokenRequest{Ttl: 600})
	if err != nil {
		t.Fatal(err)
	}
	bundle, err := bundlev1.NewBundleClient(conn).GetBundle(t.Context(), &bundlev1.GetBundleRequest{})
	if err != nil {
		t.Fatal(err)
	}
	bundlePath := filepath.Join(dir, "bundle.pem")
	if err := os.WriteFile(bundlePath, bundleconv.X509PEM(bundle), 0o600); err != nil {
		t.Fatal(err)
	}
	resp, err := entryv1.NewEntryClient(conn).BatchCreateEntry(t.Context(), &entryv1.BatchCreateEntryRequest{Entries: []*types.Entry{{
		SpiffeId:  &types.SPIFFEID{TrustDomain: trustDomain, Path: "/workload"},
		ParentId:  &types.SPIFFEID{TrustDomain: trustDomain, Path: "/spire/agent/join_token/" + token.Value},
		Selectors: []*types.Selector{{Type: "unix", Value: "uid:" + strconv.Itoa(os.Getuid())}},
	}}})
	if err != nil || resp.Results[0].Status.Code != 0 {
		t.Fatalf("creating the workload's entry: %v %v", err, resp)
	}

	s := &stack{
		apiSock:    filepath.Join(dir, "api", "api.sock"),
		adminSock:  filepath.Join(dir, "admin", "admin.sock"),
		healthAddr: fmt.Sprintf("127.0.0.1:%d", freeport.Loopback(t)),
		levels:     loglevel.New(slog.LevelInfo),
		bundle:     bundle,
	}
	acfg, err := agentconfig.Parse([]byte(fmt.Sprintf("trust_domain: %s\ndata_dir: %s\ntrust_bundle_path: %s\njoin_token: %s\n"+
		"server_address: 127.0.0.1\nserver_port: %d\nsocket_path: %s\nadmin_socket_path: %s\nhealth_address: %q\n",
		trustDomain, filepath.Join(dir, "agent"), bundlePath, token.Value, srv.Server.Addr().(*net.TCPAddr).Port, s.apiSock, s.adminSock, s.healthAddr)))
	if err != nil {
		t.Fatal(err)
	}
	agentCtx, stopAgent := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- agent.Run(agentCtx, acfg, quiet, agent.WithLogLevels(s.levels)) }()
	t.Cleanup(func() {
		stopAgent()
		if err := <-done; err != nil {
			t.Errorf("agent: %v", err)
		}
	})
	poll.Until(t, 30*time.Second, "the agent serving this process its SVID", func() bool {
		out, _, code := run("api", "fetch", "x509", "-socketPath", s.apiSock, "-timeout", "1s")
		return code == 0 && strings.Contains(out, workloadID)
	})
	return s
}

// run executes the agent CLI.
func run(args ...string) (stdout, stderr string, code int) {
	var out, errOut bytes.Buffer
	code = table.Run(context.Background(), &command.Env{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errOut}, args)
	return out.String(), errOut.String(), code
}
