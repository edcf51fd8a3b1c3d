package e2e

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lanyard-dev/lanyard/server/datastore/postgres/pgtest"
)

// TestBenchmarkCommandProducesEveryFigure runs `make bench`'s program once with tiny sizes:
// it must start real processes, measure every figure and write both result files.
// The numbers themselves are not judged here (no timing assertions in tests).
func TestBenchmarkCommandProducesEveryFigure(t *testing.T) {
	out := t.TempDir()
	cmd := exec.Command(filepath.Join(binDir, "bench"), "-quick", "-bin", binDir, "-out", out)
	b, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("bench -quick: %v\n%s", err, b)
	}
	raw, err := os.ReadFile(filepath.Join(out, "results.json"))
	if err != nil {
		t.Fatal(err)
	}
	var res struct {
		Machine struct{ Cores int } `json:"machine"`
		Figures []struct {
			Name   string    `json:"name"`
			Runs   []float64 `json:"runs"`
			Median float64   `json:"median"`
		} `json:"figures"`
	}
	if err := json.Unmarshal(raw, &res); err != nil {
		t.Fatalf("results.json: %v", err)
	}
	if res.Machine.Cores < 1 {
		t.Error("results do not state the machine's cores")
	}
	for _, want := range []string{
		"1. batch-create N=20 entries",
		"2. entry → SVID on open stream, N=1 existing entries, p50",
		"3. X.509 FetchX509SVID, concurrency 8, throughput",
		"3. JWT FetchJWTSVID, concurrency 8, p99",
		"3. WIT FetchWITSVID, concurrency 8, throughput",
		"4. 20 entries for one workload: first full FetchX509SVID response",
		"5. signing ratio (server / raw)",
		"6. agent RSS, idle",
		"6. agent RSS, 20 SVIDs served to one workload",
		"7. server kill -9, 2s down, restart",
		"8. forced rotation: taint → all 20 SVIDs of one workload",
	} {
		found := false
		for _, f := range res.Figures {
			if strings.HasPrefix(f.Name, want) {
				found = true
				if len(f.Runs) == 0 || f.Median <= 0 {
					t.Errorf("%s: no positive measurement: %v", f.Name, f.Runs)
				}
			}
		}
		if !found {
			t.Errorf("no figure %q in results.json", want)
		}
	}
	md, err := os.ReadFile(filepath.Join(out, "results.md"))
	if err != nil || !strings.Contains(string(md), "| figure | median | range | target |") {
		t.Errorf("results.md missing or without the table: %v", err)
	}
}

// TestScaleBenchmarkWritesItsTableAndCharts runs `make bench-scale`'s program with two and
// five agents and one run, on SQLite and, when PostgreSQL is installed (required with
// LANYARD_REQUIRE_PG=1), on two servers sharing it: it must attest them, measure every
// figure of each datastore and write the results files and a chart per figure, a line per
// datastore. The numbers are not judged.
func TestScaleBenchmarkWritesItsTableAndCharts(t *testing.T) {
	stores := []string{"sqlite", "postgres"}
	if pgtest.BinDir() == "" {
		if os.Getenv(pgtest.RequireEnv) == "1" {
			t.Fatalf("PostgreSQL is not installed and %s=1: run e2e/pg/install.sh", pgtest.RequireEnv)
		}
		t.Logf("PostgreSQL is not installed: measuring SQLite only (run e2e/pg/install.sh, or set %s=1 to fail)", pgtest.RequireEnv)
		stores = stores[:1]
	}
	out := t.TempDir()
	cmd := exec.Command(filepath.Join(binDir, "bench"), "scale", "-bin", binDir, "-out", out,
		"-sizes", "2,5", "-runs", "1", "-big", "50", "-idle", "200ms", "-datastores", strings.Join(stores, ","))
	b, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("bench scale: %v\n%s", err, b)
	}
	raw, err := os.ReadFile(filepath.Join(out, "scale.json"))
	if err != nil {
		t.Fatal(err)
	}
	var res struct {
		Load   string `json:"load_average_start"`
		Stores []struct {
			Name string `json:"name"`
		} `json:"datastores"`
		Series []struct {
			Key    string `json:"key"`
			Store  string `json:"datastore"`
			Points []struct {
				N    int       `json:"n"`
				Runs []float64 `json:"runs"`
			} `json:"points"`
		} `json:"series"`
		Figures []struct {
			Name string `json:"name"`
		} `json:"one_agent_figures"`
	}
	if err := json.Unmarshal(raw, &res); err != nil {
		t.Fatalf("scale.json: %v", err)
	}
	if res.Load == "" {
		t.Error("scale.json does not record the load average")
	}
	if len(res.Stores) != len(stores) {
		t.Errorf("scale.json: datastores %v, want %v", res.Stores, stores)
	}
	measured := map[string]bool{}
	for _, s := range res.Series {
		measured[s.Store+" "+s.Key] = len(s.Points) == 2 && len(s.Points[1].Runs) == 1 && s.Points[1].N == 5
	}
	keys := []string{"rss", "rss_per_agent", "cpu_per_agent", "attest", "connect", "fanout_p50", "fanout_p99", "fanout_max", "restart"}
	for _, store := range stores {
		want := keys
		if store == "postgres" {
			want = append(want, "fanout_other_max") // the change reaching the other server's agents
		}
		for _, key := range want {
			if !measured[store+" "+key] {
				t.Errorf("scale.json: %s series %q missing or without one run at N=2 and N=5", store, key)
			}
		}
	}
	if len(res.Figures) < 3 {
		t.Errorf("scale.json: one-agent figures %v, want sync time, agent RSS and first FetchX509SVID", res.Figures)
	}
	for _, chart := range []string{"rss", "rss_per_agent", "cpu_per_agent", "attest", "fanout", "restart"} {
		svg, err := os.ReadFile(filepath.Join(out, "scale-"+chart+".svg"))
		if err != nil || !strings.HasPrefix(string(svg), "<svg") || !strings.Contains(string(svg), "<circle") {
			t.Errorf("scale-%s.svg missing or without points: %v", chart, err)
			continue
		}
		if len(stores) > 1 && !strings.Contains(string(svg), "PostgreSQL, 2 servers") {
			t.Errorf("scale-%s.svg has no PostgreSQL line in its legend", chart)
		}
	}
	md, err := os.ReadFile(filepath.Join(out, "scale.md"))
	if err != nil || !strings.Contains(string(md), "| figure | datastore | N agents | median | range | goal |") || !strings.Contains(string(md), "scale-fanout.svg") {
		t.Errorf("scale.md missing, or without the table or the charts: %v", err)
	}
}
