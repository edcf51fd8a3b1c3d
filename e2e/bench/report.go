package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"
)

// figure is one measured quantity, run several times.
type figure struct {
	Name   string    `json:"name"`
	Unit   string    `json:"unit"`
	Target string    `json:"target,omitempty"`
	Runs   []float64 `json:"runs"`
	Median float64   `json:"median"`
	Min    float64   `json:"min"`
	Max    float64   `json:"max"`
}

type machine struct {
	Cores  int    `json:"cores"`
	CPU    string `json:"cpu"`
	Go     string `json:"go"`
	OS     string `json:"os"`
	Kernel string `json:"kernel"`
	// Load is /proc/loadavg's 1-minute figure when the run began: other work on the
	// machine lowers throughput figures, so results say how busy it was.
	Load string `json:"load_at_start"`
}

type results struct {
	Date    string    `json:"date"`
	Machine machine   `json:"machine"`
	Sizes   []int     `json:"sizes"`
	Runs    int       `json:"runs"`
	Figures []*figure `json:"figures"`
}

// recorder collects figures in the order they are first seen.
type recorder struct {
	byName map[string]*figure
	order  []*figure
}

func newRecorder() *recorder { return &recorder{byName: map[string]*figure{}} }

func (r *recorder) add(name, unit, target string, v float64) {
	f, ok := r.byName[name]
	if !ok {
		f = &figure{Name: name, Unit: unit, Target: target}
		r.byName[name] = f
		r.order = append(r.order, f)
	}
	f.Runs = append(f.Runs, v)
}

// finish computes each figure's median and range, and orders figures by their number
// (the leading "N."), keeping the order of measurement within a number.
func (r *recorder) finish() []*figure {
	slices.SortStableFunc(r.order, func(a, b *figure) int { return strings.Compare(a.Name[:2], b.Name[:2]) })
	for _, f := range r.order {
		f.Median, f.Min, f.Max = stats(f.Runs)
	}
	return r.order
}

// stats returns the median, minimum and maximum of runs (not empty).
func stats(runs []float64) (median, lo, hi float64) {
	s := slices.Clone(runs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		median = s[len(s)/2]
	} else {
		median = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return median, s[0], s[len(s)-1]
}

// percentile returns the q-quantile (nearest rank) of ds in milliseconds.
func percentile(ds []time.Duration, q float64) float64 {
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(math.Ceil(q*float64(len(s)))) - 1
	return float64(s[max(i, 0)]) / float64(time.Millisecond)
}

func describeMachine() machine {
	m := machine{Cores: runtime.NumCPU(), Go: runtime.Version(), OS: runtime.GOOS + "/" + runtime.GOARCH}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "model name"); ok {
				m.CPU = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		m.Load = strings.Fields(string(b) + " ?")[0]
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	return m
}

func format(v float64) string {
	switch {
	case v >= 100:
		return fmt.Sprintf("%.0f", v)
	case v >= 10:
		return fmt.Sprintf("%.1f", v)
	default:
		return fmt.Sprintf("%.3g", v)
	}
}

func writeTable(w io.Writer, res *results) {
	fmt.Fprintf(w, "Lanyard benchmark, %s. Machine: %d cores (%s), %s, %s, kernel %s, load average %s at start. Each figure: median of %d runs, [min – max].\n\n",
		res.Date, res.Machine.Cores, res.Machine.CPU, res.Machine.Go, res.Machine.OS, res.Machine.Kernel, res.Machine.Load, res.Runs)
	fmt.Fprintln(w, "| figure | median | range | target |")
	fmt.Fprintln(w, "| --- | ---: | ---: | --- |")
	for _, f := range res.Figures {
		fmt.Fprintf(w, "| %s | %s %s | %s – %s | %s |\n", f.Name, format(f.Median), f.Unit, format(f.Min), format(f.Max), f.Target)
	}
}

// save writes results.json and results.md into dir.
func save(dir string, res *results) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	j, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "results.json"), append(j, '\n'), 0o644); err != nil {
		return err
	}
	var md strings.Builder
	md.WriteString("# Lanyard benchmark results\n\nWritten by `make bench` (e2e/bench). Numbers from one machine; rerun to compare.\n\n")
	writeTable(&md, res)
	return os.WriteFile(filepath.Join(dir, "results.md"), []byte(md.String()), 0o644)
}
