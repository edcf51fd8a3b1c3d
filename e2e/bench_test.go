package e2e

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
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
