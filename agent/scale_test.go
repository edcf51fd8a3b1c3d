package agent

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/proto/spiffe/workload"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	entryv1 "github.com/spiffe/spire-api-sdk/proto/spire/api/server/entry/v1"
	"github.com/spiffe/spire-api-sdk/proto/spire/api/types"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"

	"github.com/lanyard-dev/lanyard/internal/poll"
)

// TestScaleOneAgent measures one agent holding many entries, in this process with the
// real server: LANYARD_SCALE_ENTRIES=100000 entries parented to the agent, of which
// LANYARD_SCALE_MATCH (default 1000) match this test process. It reports the time from
// the agent's start until every entry has an X.509-SVID, the heap the agent added, and
// the time and size of the matched workload's first FetchX509SVID response. It judges
// no number (the machine is shared); without LANYARD_SCALE_ENTRIES it is skipped.
func TestScaleOneAgent(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("LANYARD_SCALE_ENTRIES"))
	if n <= 0 {
		t.Skip("set LANYARD_SCALE_ENTRIES=100000 to measure one agent with that many entries")
	}
	match := 1000
	if v, err := strconv.Atoi(os.Getenv("LANYARD_SCALE_MATCH")); err == nil {
		match = v
	}
	e := newEnv(t)
	cfg, agentID := e.agentConfig()
	start := time.Now()
	e.scaleEntries(agentID, n, match)
	t.Logf("created %d entries (%d matching this process) in %s", n, match, time.Since(start).Round(time.Millisecond))

	before, cpuBefore := heapInUse(), cpuTime()
	start = time.Now()
	a := e.startAgent(cfg)
	want := regexp.MustCompile(fmt.Sprintf("(?m)^lanyard_agent_x509_svids %d$", n))
	var asked time.Time
	poll.Until(t, 10*time.Minute, fmt.Sprintf("%d X.509-SVIDs in the agent's cache", n), func() bool {
		// A scrape walks the agent's cache: ask every 200ms, not at poll's pace, so that
		// the measurement does not slow down what it measures.
		if time.Since(asked) < 200*time.Millisecond {
			return false
		}
		asked = time.Now()
		resp, err := http.Get("http://" + a.cfg.HealthAddr() + "/metrics")
		if err != nil {
			return false // not listening yet
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return err == nil && want.Match(b)
	})
	synced, cpu := time.Since(start), cpuTime()-cpuBefore
	after := heapInUse()
	t.Logf("synced %d entries in %s (CPU time of server and agent: %s); heap in use %d MiB before the agent, %d MiB after (agent and the server's stream for it); process RSS %s",
		n, synced.Round(time.Millisecond), cpu.Round(time.Millisecond), before>>20, after>>20, rss())

	if match == 0 {
		return
	}
	for range 3 {
		start = time.Now()
		resp, err := rawFetchX509(t, a.cfg.SocketPath)
		if err != nil {
			t.Fatalf("FetchX509SVID: %v", err)
		}
		t.Logf("FetchX509SVID: %d SVIDs, %d bytes, first response after %s", len(resp.Svids), proto.Size(resp), time.Since(start).Round(time.Millisecond))
	}
	svids, err := a.fetchX509(t)
	t.Logf("go-spiffe FetchX509SVIDs (default 4 MiB receive limit): %d SVIDs, error %v", len(svids), err)
}

// scaleEntries creates n entries parented to agentID, the first match of them for this
// process's uid and the others for a uid no process here has, in batches.
func (e *env) scaleEntries(agentID spiffeid.ID, n, match int) {
	e.t.Helper()
	c := entryv1.NewEntryClient(e.admin)
	const batch = 1000
	for i := 0; i < n; i += batch {
		req := &entryv1.BatchCreateEntryRequest{}
		for j := i; j < min(i+batch, n); j++ {
			uid := os.Getuid()
			if j >= match {
				uid = 4000000 + j%1000
			}
			req.Entries = append(req.Entries, &types.Entry{
				SpiffeId:  &types.SPIFFEID{TrustDomain: testTD, Path: fmt.Sprintf("/scale/%06d", j)},
				ParentId:  &types.SPIFFEID{TrustDomain: testTD, Path: agentID.Path()},
				Selectors: []*types.Selector{{Type: "unix", Value: fmt.Sprintf("uid:%d", uid)}},
			})
		}
		resp, err := c.BatchCreateEntry(e.t.Context(), req)
		if err != nil {
			e.t.Fatalf("creating entries %d..: %v", i, err)
		}
		for _, r := range resp.Results {
			if r.Status.Code != 0 {
				e.t.Fatalf("creating an entry: %v", r.Status)
			}
		}
	}
}

// rawFetchX509 reads the first FetchX509SVID response without go-spiffe's receive limit,
// so that its size can be measured.
func rawFetchX509(t *testing.T, socket string) (*workload.X509SVIDResponse, error) {
	conn, err := grpc.NewClient("unix://"+socket, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(1<<30)))
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	ctx = metadata.AppendToOutgoingContext(ctx, "workload.spiffe.io", "true")
	stream, err := workload.NewSpiffeWorkloadAPIClient(conn).FetchX509SVID(ctx, &workload.X509SVIDRequest{})
	if err != nil {
		return nil, err
	}
	return stream.Recv()
}

func heapInUse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}

// cpuTime is the user and system CPU time this process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// rss is this process's resident set (VmRSS), server and agent together.
func rss() string {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return err.Error()
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmRSS:") {
			return strings.TrimSpace(strings.TrimPrefix(l, "VmRSS:"))
		}
	}
	return "unknown"
}
