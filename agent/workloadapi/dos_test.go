package workloadapi

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sys/unix"

	"github.com/lanyard-dev/lanyard/agent/peer"
	"github.com/lanyard-dev/lanyard/internal/poll"
	"github.com/lanyard-dev/lanyard/internal/testproc"
)

// TestHelperHoldConnections is not a test: it is the flooding process of
// TestOneUIDCannotStarveOtherWorkloads. It opens $LANYARD_HOLD_N connections to
// $LANYARD_HOLD_SOCKET, prints "held N" and keeps them until stdin closes.
func TestHelperHoldConnections(t *testing.T) {
	sock := os.Getenv("LANYARD_HOLD_SOCKET")
	if sock == "" {
		t.Skip("helper process only")
	}
	n, _ := strconv.Atoi(os.Getenv("LANYARD_HOLD_N"))
	conns := make([]net.Conn, 0, n)
	for len(conns) < n {
		c, err := net.Dial("unix", sock)
		if errors.Is(err, syscall.EAGAIN) {
			time.Sleep(time.Millisecond) // the listen backlog is full: pace the flood, then retry
			continue
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "connection %d: %v\n", len(conns)+1, err)
			os.Exit(2)
		}
		conns = append(conns, c)
	}
	fmt.Println("held", len(conns))
	_, _ = io.Copy(io.Discard, os.Stdin)
	os.Exit(0)
}

// The attack of issue 12 item 10: a uid with no entries opens 3,000 connections and
// holds them. The agent keeps 1,000 (its per-uid cap), closes the rest at once and
// counts them, and another uid still gets its SVID. (3,000 rather than more: the
// admitted connections never start gRPC, and gRPC closes such a connection after 120 s,
// so the whole flood must be accepted within that even on a loaded machine.)
func TestOneUIDCannotStarveOtherWorkloads(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to run the flooding process as uid 65534")
	}
	const flood, nobody = 3000, 65534
	// The agent may open 4,096 files: without caps, 3,000 connections (a socket and a
	// pidfd each) would take them all. The flooding process may open enough for its flood.
	setOpenFileLimit(t, 4096, flood+100)

	e := start(t)
	e.add("e1", "spiffe://example.org/web", nil, selfUID)
	// The flooding uid must reach the socket, as any workload can.
	if err := os.Chmod(filepath.Dir(filepath.Dir(e.socket)), 0o755); err != nil {
		t.Fatal(err)
	}

	cmd := testproc.AsUser(t, nobody, "^TestHelperHoldConnections$",
		"LANYARD_HOLD_SOCKET="+e.socket, "LANYARD_HOLD_N="+strconv.Itoa(flood))
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stdin.Close(); _ = cmd.Wait() })
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if want := fmt.Sprintf("held %d\n", flood); line != want {
		t.Fatalf("flooding process: %q, %v; stderr: %s", line, err, stderr.String())
	}

	counts := func() (refusedPerUID, refusedTotal, open float64) {
		return metric(t, e.reg, "lanyard_agent_workload_api_connections_refused_total", peer.RefusedPerUID),
			metric(t, e.reg, "lanyard_agent_workload_api_connections_refused_total", peer.RefusedTotal),
			metric(t, e.reg, "lanyard_agent_workload_api_connections", "")
	}
	t.Cleanup(func() {
		if t.Failed() {
			perUID, total, open := counts()
			t.Logf("refused %v per uid, %v total; %v open", perUID, total, open)
		}
	})
	poll.Until(t, 2*time.Minute, "the agent to admit or refuse every connection of the flood", func() bool {
		perUID, total, open := counts()
		return perUID+total+open >= flood
	})
	if perUID, total, open := counts(); perUID != flood-DefaultMaxConnectionsPerUID || total != 0 || open != DefaultMaxConnectionsPerUID {
		t.Fatalf("refused %v for the per-uid cap and %v for the total, %v open; want %d, 0 and %d",
			perUID, total, open, flood-DefaultMaxConnectionsPerUID, DefaultMaxConnectionsPerUID)
	}

	// Another uid (this process) still gets its SVID while the flood holds its share.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute) // a failure bound, not a latency target
	defer cancel()
	began := time.Now()
	svid, err := e.client().FetchX509SVID(ctx)
	t.Logf("SVID fetched by another uid during the flood in %v", time.Since(began)) // a figure, not an assertion
	if err != nil {
		t.Fatalf("a workload of another uid got no SVID during the flood: %v", err)
	}
	if svid.ID.String() != "spiffe://example.org/web" {
		t.Fatalf("got %s", svid.ID)
	}
}

// setOpenFileLimit sets this process's soft open file limit to soft and makes sure the
// hard limit (which the flooding child, a Go program, raises its own soft limit to) is
// at least hard; it skips the test if it may not.
func setOpenFileLimit(t *testing.T, soft, hard uint64) {
	t.Helper()
	var orig unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &orig); err != nil {
		t.Fatal(err)
	}
	lim := unix.Rlimit{Cur: soft, Max: max(orig.Max, hard)}
	if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		t.Skipf("cannot set the open file limit to %d/%d (now %d/%d): %v", lim.Cur, lim.Max, orig.Cur, orig.Max, err)
	}
	t.Cleanup(func() { _ = unix.Setrlimit(unix.RLIMIT_NOFILE, &orig) })
}

// metric returns the value of a gauge or counter in reg; label picks the series by its
// one label value ("" for an unlabelled metric). Absent series read as 0.
func metric(t *testing.T, reg *prometheus.Registry, name, label string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			if label != "" && (len(m.GetLabel()) != 1 || m.GetLabel()[0].GetValue() != label) {
				continue
			}
			if c := m.GetCounter(); c != nil {
				return c.GetValue()
			}
			return m.GetGauge().GetValue()
		}
	}
	return 0
}
