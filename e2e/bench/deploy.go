package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	agentv1 "github.com/spiffe/spire-api-sdk/proto/spire/api/server/agent/v1"
	bundlev1 "github.com/spiffe/spire-api-sdk/proto/spire/api/server/bundle/v1"
	entryv1 "github.com/spiffe/spire-api-sdk/proto/spire/api/server/entry/v1"
	"github.com/spiffe/spire-api-sdk/proto/spire/api/types"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/lanyard-dev/lanyard/internal/bundleconv"
	"github.com/lanyard-dev/lanyard/internal/freeport"
)

// deployment is one fresh lanyard-server (and optionally lanyard-agent) started from the
// built binaries on embedded defaults, each in its own temp dir.
type deployment struct {
	dir        string
	td         spiffeid.TrustDomain
	adminSock  string
	apiSock    string
	serverPort int
	agentAddr  string // agent's /metrics and /readyz
	serverCfg  string
	server     *exec.Cmd
	agent      *exec.Cmd
	admin      *grpc.ClientConn
	agentID    spiffeid.ID
	// goSPIFFEDefaults leaves the agent's Workload API responses at their default 4 MiB
	// bound, as workloads with go-spiffe's default client need; otherwise they may grow to
	// workloadRecvLimit, which workloadClient accepts.
	goSPIFFEDefaults bool
}

// workloadRecvLimit is the response size the benchmark's workload client accepts (and
// its agents send): one response carries every SVID of the workload, and 10,000 of them
// are ~15 MB.
const workloadRecvLimit = 512 << 20

const benchTD = "bench.example"

// deploy starts a server, and an agent attested with a join token when withAgent is set.
func deploy(ctx context.Context, bin string, withAgent bool) (*deployment, error) {
	d, err := deployServer(ctx, bin, "")
	if err != nil || !withAgent {
		return d, err
	}
	if err := d.startAgent(ctx, bin); err != nil {
		d.close()
		return nil, err
	}
	return d, nil
}

// deployServer starts a server whose configuration is the benchmark's plus extraCfg
// (YAML, such as a datastore section).
func deployServer(ctx context.Context, bin, extraCfg string) (_ *deployment, err error) {
	dir, err := os.MkdirTemp("", "lanyard-bench-")
	if err != nil {
		return nil, err
	}
	d := &deployment{dir: dir, td: spiffeid.RequireTrustDomainFromString(benchTD),
		adminSock: filepath.Join(dir, "admin.sock"), apiSock: filepath.Join(dir, "agent", "api.sock")}
	defer func() {
		if err != nil {
			d.close()
		}
	}()
	if d.serverPort, err = freeport.Find(); err != nil {
		return nil, err
	}
	// No OIDC endpoint: it is not measured, and its fixed default port would collide with
	// any other lanyard-server on the machine.
	d.serverCfg = fmt.Sprintf("trust_domain: %s\ndata_dir: %s\nbind_port: %d\nadmin_socket_path: %s\nhealth_address: \"\"\nlog_level: warn\noidc:\n  address: \"\"\n",
		benchTD, filepath.Join(dir, "server"), d.serverPort, d.adminSock) + extraCfg
	if err := d.launch(bin); err != nil {
		return nil, err
	}
	if err := d.awaitAdmin(ctx, 30*time.Second); err != nil {
		log, _ := os.ReadFile(filepath.Join(dir, "lanyard-server.log"))
		return nil, fmt.Errorf("%w; lanyard-server's log:\n%s", err, log)
	}
	return d, nil
}

// launch starts the server process and a new admin connection to it (an old one would
// wait out gRPC's own reconnect backoff after a restart).
func (d *deployment) launch(bin string) error {
	var err error
	if d.server, err = startProc(bin, "lanyard-server", d.dir, d.serverCfg); err != nil {
		return err
	}
	if d.admin != nil {
		d.admin.Close()
	}
	if d.admin, err = grpc.NewClient("unix://"+d.adminSock, grpc.WithTransportCredentials(insecure.NewCredentials())); err != nil {
		return fmt.Errorf("admin client: %w", err)
	}
	return nil
}

// awaitAdmin waits for the server's admin API to answer.
func (d *deployment) awaitAdmin(ctx context.Context, within time.Duration) error {
	return waitFor(ctx, within, "server admin socket", func() bool {
		_, err := entryv1.NewEntryClient(d.admin).CountEntries(ctx, &entryv1.CountEntriesRequest{})
		return err == nil
	})
}

// kill9 kills the server with SIGKILL, so nothing of it gets to clean up, and waits for it.
func (d *deployment) kill9() error {
	if err := d.server.Process.Signal(syscall.SIGKILL); err != nil {
		return err
	}
	_ = d.server.Wait()
	return nil
}

func (d *deployment) startAgent(ctx context.Context, bin string) error {
	tok, err := d.joinToken(ctx)
	if err != nil {
		return err
	}
	return d.startAgentWith(ctx, bin, tok, 30*time.Second)
}

// joinToken creates a join token and sets d.agentID to the ID of the agent that will use it.
func (d *deployment) joinToken(ctx context.Context) (string, error) {
	tok, err := agentv1.NewAgentClient(d.admin).CreateJoinToken(ctx, &agentv1.CreateJoinTokenRequest{Ttl: 600})
	if err != nil {
		return "", fmt.Errorf("join token: %w", err)
	}
	d.agentID = spiffeid.RequireFromPath(d.td, "/spire/agent/join_token/"+tok.Value)
	return tok.Value, nil
}

// startAgentWith starts lanyard-agent attesting with token and waits up to within for it
// to be ready.
func (d *deployment) startAgentWith(ctx context.Context, bin, token string, within time.Duration) error {
	bundlePath, err := d.writeBundle(ctx)
	if err != nil {
		return err
	}
	port, err := freeport.Find()
	if err != nil {
		return err
	}
	d.agentAddr = fmt.Sprintf("127.0.0.1:%d", port)
	cfg := fmt.Sprintf("trust_domain: %s\nserver_port: %d\ndata_dir: %s\nsocket_path: %s\nhealth_address: %s\ntrust_bundle_path: %s\njoin_token: %s\nlog_level: warn\n",
		benchTD, d.serverPort, filepath.Join(d.dir, "agent-data"), d.apiSock, d.agentAddr, bundlePath, token)
	if !d.goSPIFFEDefaults {
		cfg += fmt.Sprintf("workload_api:\n  max_response_bytes: %d\n", workloadRecvLimit)
	}
	if d.agent, err = startProc(bin, "lanyard-agent", d.dir, cfg); err != nil {
		return err
	}
	return waitFor(ctx, within, "agent ready", func() bool {
		if _, err := os.Stat(d.apiSock); err != nil {
			return false
		}
		resp, err := http.Get("http://" + d.agentAddr + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
}

// writeBundle saves the server's CA certificates for the agent's first contact.
func (d *deployment) writeBundle(ctx context.Context) (string, error) {
	b, err := bundlev1.NewBundleClient(d.admin).GetBundle(ctx, &bundlev1.GetBundleRequest{})
	if err != nil {
		return "", fmt.Errorf("bundle: %w", err)
	}
	path := filepath.Join(d.dir, "bundle.pem")
	return path, os.WriteFile(path, bundleconv.X509PEM(b), 0o600)
}

func startProc(bin, name, dir, cfg string) (*exec.Cmd, error) {
	cfgPath := filepath.Join(dir, name+".yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		return nil, err
	}
	logf, err := os.Create(filepath.Join(dir, name+".log"))
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(filepath.Join(bin, name), "run", "-config", cfgPath)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	return cmd, nil
}

func (d *deployment) close() {
	if d.admin != nil {
		d.admin.Close()
	}
	for _, c := range []*exec.Cmd{d.agent, d.server} {
		if c == nil || c.Process == nil {
			continue
		}
		_ = c.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = c.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = c.Process.Kill()
			<-done
		}
	}
	os.RemoveAll(d.dir)
}

// createEntries registers spiffe://TD/<prefix>/<i> for i in [0,n), selector
// unix:uid:<uidOf(i)>, parented to parent, in batches of 500 as the CLI sends them.
func (d *deployment) createEntries(ctx context.Context, parent spiffeid.ID, prefix string, n int, uidOf func(int) int) error {
	for start := 0; start < n; start += 500 {
		batch := make([]*types.Entry, 0, 500)
		for i := start; i < min(n, start+500); i++ {
			batch = append(batch, &types.Entry{
				SpiffeId:  &types.SPIFFEID{TrustDomain: benchTD, Path: fmt.Sprintf("/%s/%d", prefix, i)},
				ParentId:  &types.SPIFFEID{TrustDomain: benchTD, Path: parent.Path()},
				Selectors: []*types.Selector{{Type: "unix", Value: "uid:" + strconv.Itoa(uidOf(i))}},
			})
		}
		if err := d.batchCreate(ctx, batch); err != nil {
			return err
		}
	}
	return nil
}

// agentSVIDs reads the agent's lanyard_agent_x509_svids gauge.
func (d *deployment) agentSVIDs() (int, error) {
	resp, err := http.Get("http://" + d.agentAddr + "/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(io.LimitReader(resp.Body, 8<<20))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "lanyard_agent_x509_svids "); ok {
			f, err := strconv.ParseFloat(v, 64)
			return int(f), err
		}
	}
	return 0, errors.New("agent /metrics has no lanyard_agent_x509_svids")
}

// waitSVIDs waits until the agent holds at least n current SVIDs.
func (d *deployment) waitSVIDs(ctx context.Context, n int) error {
	return waitFor(ctx, 5*time.Minute, fmt.Sprintf("agent to hold %d SVIDs", n), func() bool {
		got, err := d.agentSVIDs()
		return err == nil && got >= n
	})
}

// rss returns a process's resident set size in MiB, from /proc.
func rss(c *exec.Cmd) (float64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", c.Process.Pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			return kb / 1024, err
		}
	}
	return 0, errors.New("no VmRSS in /proc status")
}

// cpuSeconds returns the user and system CPU time a process has used, from /proc.
func cpuSeconds(c *exec.Cmd) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", c.Process.Pid))
	if err != nil {
		return 0, err
	}
	// The fields after the command name (which may hold spaces) are space-separated;
	// utime and stime are the 14th and 15th fields of the line.
	rest := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	if len(rest) < 13 {
		return 0, errors.New("short /proc stat line")
	}
	var ticks float64
	for _, f := range rest[11:13] {
		v, err := strconv.ParseFloat(f, 64)
		if err != nil {
			return 0, err
		}
		ticks += v
	}
	return ticks / 100, nil // USER_HZ is 100 on Linux
}

// uptime is /proc/loadavg's three load averages, to say how busy the machine was.
func uptime() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	return strings.Join(strings.Fields(string(b))[:3], " ")
}

// waitFor polls cond every 20ms until it holds, the deadline passes or ctx ends.
func waitFor(ctx context.Context, within time.Duration, what string, cond func() bool) error {
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			return fmt.Errorf("timed out after %s waiting for %s", within, what)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	return nil
}
