package agent

import (
	"context"
	"crypto"
	"crypto/x509"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"
	"github.com/spiffe/go-spiffe/v2/workloadapi"
	agentv1 "github.com/spiffe/spire-api-sdk/proto/spire/api/server/agent/v1"
	bundlev1 "github.com/spiffe/spire-api-sdk/proto/spire/api/server/bundle/v1"
	entryv1 "github.com/spiffe/spire-api-sdk/proto/spire/api/server/entry/v1"
	"github.com/spiffe/spire-api-sdk/proto/spire/api/types"
	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/lanyard-dev/lanyard/agent/client"
	"github.com/lanyard-dev/lanyard/agent/config"
	"github.com/lanyard-dev/lanyard/internal/bundleconv"
	"github.com/lanyard-dev/lanyard/internal/freeport"
	"github.com/lanyard-dev/lanyard/internal/logbuf"
	"github.com/lanyard-dev/lanyard/internal/poll"
	"github.com/lanyard-dev/lanyard/server"
	servercfg "github.com/lanyard-dev/lanyard/server/config"
)

const testTD = "agent.example"

// env is a real lanyard-server running in this process, with its admin API, and the
// files an agent needs to join it.
type env struct {
	t       *testing.T
	dir     string // short: unix sockets live here
	srvCfg  servercfg.Config
	srv     *server.Server
	admin   *grpc.ClientConn
	port    int
	leakOpt goleak.Option
}

func newEnv(t *testing.T) *env {
	t.Helper()
	dir, err := os.MkdirTemp("", "lanyard-agent-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	e := &env{t: t, dir: dir, port: freeport.Loopback(t)}
	e.srvCfg, err = servercfg.Parse([]byte(fmt.Sprintf("trust_domain: %s\nbind_port: %d\nhealth_address: \"\"\n"+
		"data_dir: %s\nadmin_socket_path: %s\nkey_manager: memory\noidc:\n  address: \"\"\n",
		testTD, e.port, filepath.Join(dir, "server"), filepath.Join(dir, "admin.sock"))))
	if err != nil {
		t.Fatal(err)
	}
	e.startServer()
	e.admin, err = grpc.NewClient("unix://"+e.srvCfg.AdminSocketPath, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.admin.Close() })
	// Connect the admin client now, so that its goroutines are in the snapshot below.
	if _, err := bundlev1.NewBundleClient(e.admin).GetBundle(t.Context(), &bundlev1.GetBundleRequest{}); err != nil {
		t.Fatal(err)
	}
	// Goroutines of the server and of the test itself are not the agent's.
	e.leakOpt = goleak.IgnoreCurrent()
	return e
}

func (e *env) startServer() {
	e.t.Helper()
	srv, err := server.Start(context.Background(), e.srvCfg, slog.New(slog.DiscardHandler))
	if err != nil {
		e.t.Fatalf("starting server: %v", err)
	}
	e.srv = srv
	e.t.Cleanup(e.stopServer)
}

func (e *env) stopServer() {
	e.srv.Stop()
	_ = e.srv.Wait()
}

// agentConfig returns the configuration of an agent joining with a new join token, and
// the agent's ID.
func (e *env) agentConfig() (config.Config, spiffeid.ID) {
	e.t.Helper()
	b, err := bundlev1.NewBundleClient(e.admin).GetBundle(e.t.Context(), &bundlev1.GetBundleRequest{})
	if err != nil {
		e.t.Fatal(err)
	}
	bundlePath := filepath.Join(e.dir, "bundle.pem")
	if err := os.WriteFile(bundlePath, bundleconv.X509PEM(b), 0o600); err != nil {
		e.t.Fatal(err)
	}
	tok, err := agentv1.NewAgentClient(e.admin).CreateJoinToken(e.t.Context(), &agentv1.CreateJoinTokenRequest{Ttl: 600})
	if err != nil {
		e.t.Fatal(err)
	}
	cfg, err := config.Parse([]byte(fmt.Sprintf("trust_domain: %s\nserver_port: %d\ndata_dir: %s\n"+
		"socket_path: %s\nhealth_address: 127.0.0.1:%d\ntrust_bundle_path: %s\njoin_token: %s\n",
		testTD, e.port, filepath.Join(e.dir, "agent-data"), filepath.Join(e.dir, "api.sock"), freeport.Loopback(e.t), bundlePath, tok.Value)))
	if err != nil {
		e.t.Fatal(err)
	}
	return cfg, spiffeid.RequireFromPath(spiffeid.RequireTrustDomainFromString(testTD), "/spire/agent/join_token/"+tok.Value)
}

// entry registers spiffe://TD/<name> for processes of this test's uid under parent and
// returns the entry's ID.
func (e *env) entry(name string, parent spiffeid.ID, x509TTL time.Duration) string {
	e.t.Helper()
	resp, err := entryv1.NewEntryClient(e.admin).BatchCreateEntry(e.t.Context(), &entryv1.BatchCreateEntryRequest{Entries: []*types.Entry{{
		SpiffeId:    &types.SPIFFEID{TrustDomain: testTD, Path: "/" + name},
		ParentId:    &types.SPIFFEID{TrustDomain: testTD, Path: parent.Path()},
		Selectors:   []*types.Selector{{Type: "unix", Value: fmt.Sprintf("uid:%d", os.Getuid())}},
		X509SvidTtl: int32(x509TTL / time.Second),
	}}})
	if err != nil || resp.Results[0].Status.Code != 0 {
		e.t.Fatalf("creating entry %s: %v %v", name, err, resp)
	}
	return resp.Results[0].Entry.Id
}

// agentSerial is the serial of the agent SVID the server takes as the agent's current one.
func (e *env) agentSerial(id spiffeid.ID) string {
	e.t.Helper()
	a, err := agentv1.NewAgentClient(e.admin).GetAgent(e.t.Context(), &agentv1.GetAgentRequest{
		Id: &types.SPIFFEID{TrustDomain: id.TrustDomain().Name(), Path: id.Path()}})
	if err != nil {
		e.t.Fatal(err)
	}
	return a.X509SvidSerialNumber
}

// runningAgent is an agent started by startAgent.
type runningAgent struct {
	cfg   config.Config
	clock *clocktesting.FakeClock
	log   *logbuf.Buffer
	stop  context.CancelFunc
	done  chan error
}

// startAgent runs an agent in this process on a fake clock set to now. It logs at debug,
// or, given WithLogLevels, at the level the logger API sets, as lanyard-agent does.
func (e *env) startAgent(cfg config.Config, opts ...Option) *runningAgent {
	e.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	a := &runningAgent{cfg: cfg, clock: clocktesting.NewFakeClock(time.Now()), log: &logbuf.Buffer{}, stop: cancel, done: make(chan error, 1)}
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	var level slog.Leveler = slog.LevelDebug
	if o.levels != nil {
		level = o.levels.Leveler()
	}
	go func() {
		a.done <- run(ctx, cfg, slog.New(slog.NewTextHandler(a.log, &slog.HandlerOptions{Level: level})), a.clock, opts...)
	}()
	e.t.Cleanup(func() {
		cancel()
		<-a.done
		if e.t.Failed() {
			e.t.Logf("agent log:\n%s", a.log.String())
		}
	})
	return a
}

// shutdown stops the agent, fails the test if it failed, and checks it left no goroutine.
func (e *env) shutdown(a *runningAgent) {
	e.t.Helper()
	a.stop()
	if err := <-a.done; err != nil {
		e.t.Fatalf("agent stopped with an error: %v", err)
	}
	a.done <- nil // for the cleanup
	goleak.VerifyNone(e.t, e.leakOpt)
}

// fetchX509 fetches the X.509-SVIDs of this process from the agent.
func (a *runningAgent) fetchX509(t *testing.T) ([]*x509svid.SVID, error) {
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
	defer cancel()
	return workloadapi.FetchX509SVIDs(ctx, workloadapi.WithAddr("unix://"+a.cfg.SocketPath))
}

// servesID polls until the agent serves an X.509-SVID for spiffe://TD/<name>.
func (a *runningAgent) servesID(t *testing.T, name string) {
	t.Helper()
	want := "spiffe://" + testTD + "/" + name
	poll.Until(t, 30*time.Second, "the agent to serve "+want, func() bool {
		svids, err := a.fetchX509(t)
		for _, s := range svids {
			if err == nil && s.ID.String() == want {
				return true
			}
		}
		return false
	})
}

// readyz returns the agent's /readyz answer.
func (a *runningAgent) readyz(t *testing.T) string {
	t.Helper()
	resp, err := http.Get("http://" + a.cfg.HealthAddr() + "/readyz")
	if err != nil {
		return err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return fmt.Sprintf("%d %s", resp.StatusCode, strings.TrimSpace(string(b)))
}

// metrics returns the agent's /metrics page.
func (a *runningAgent) metrics(t *testing.T) string {
	t.Helper()
	resp, err := http.Get("http://" + a.cfg.HealthAddr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// callAsAgent calls the server's agent-facing API (GetAuthorizedEntries) over mTLS
// presenting chain and key, as an agent's connection does.
func (e *env) callAsAgent(chain []*x509.Certificate, key crypto.Signer) (*entryv1.GetAuthorizedEntriesResponse, error) {
	e.t.Helper()
	td := spiffeid.RequireTrustDomainFromString(testTD)
	tls := client.NewIdentity(td)
	b, err := bundlev1.NewBundleClient(e.admin).GetBundle(e.t.Context(), &bundlev1.GetBundleRequest{})
	if err != nil {
		e.t.Fatal(err)
	}
	sb, err := bundleconv.ToSPIFFE(b)
	if err != nil {
		e.t.Fatal(err)
	}
	tls.SetBundle(sb.X509Bundle())
	tls.SetSVID(chain, key)
	c, err := client.Dial([]string{e.srv.Addr().String()}, tls)
	if err != nil {
		e.t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(e.t.Context(), 10*time.Second)
	defer cancel()
	return c.Entry.GetAuthorizedEntries(ctx, &entryv1.GetAuthorizedEntriesRequest{})
}
