package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// seriesDef is one figure measured against the number of agents N.
type seriesDef struct {
	Key   string `json:"key"`   // the key runs are recorded under
	Chart string `json:"chart"` // the chart it is drawn on, scale-<chart>.svg (several series may share one)
	Name  string `json:"name"`
	Unit  string `json:"unit"`
	// Goal is the goal, stated at N=GoalN; GoalValue draws it on the chart.
	Goal      string  `json:"goal,omitempty"`
	GoalN     int     `json:"goal_n,omitempty"`
	GoalValue float64 `json:"goal_value,omitempty"`
}

var seriesDefs = []seriesDef{
	{Key: "rss", Chart: "rss", Name: "server RSS with N agents connected", Unit: "MiB", Goal: "< 2 GiB", GoalN: 10000, GoalValue: 2048},
	{Key: "rss_per_agent", Chart: "rss_per_agent", Name: "server RSS per connected agent", Unit: "KiB"},
	{Key: "cpu_per_agent", Chart: "cpu_per_agent", Name: "server CPU per connected agent, nothing changing", Unit: "µs/s"},
	{Key: "attest", Chart: "attest", Name: "time to attest N agents", Unit: "s"},
	{Key: "connect", Chart: "attest", Name: "time to attest N agents and deliver every agent its entries", Unit: "s"},
	{Key: "fanout_p50", Chart: "fanout", Name: "entry change matching every agent → agent has it, p50", Unit: "s"},
	{Key: "fanout_p99", Chart: "fanout", Name: "entry change matching every agent → agent has it, p99", Unit: "s"},
	{Key: "fanout_max", Chart: "fanout", Name: "entry change matching every agent → all N agents have it (max)", Unit: "s", Goal: "< 5 s", GoalN: 10000, GoalValue: 5},
	// Two servers only: the change is made through the first server's admin API, so the
	// other server's agents get it through the shared datastore.
	{Key: "fanout_other_max", Chart: "fanout", Name: "entry change through server 1 → all agents of server 2 have it (max)", Unit: "s"},
	{Key: "restart", Chart: "restart", Name: "every server kill -9 + restart → all N agents reconnected and resynced", Unit: "s", Goal: "< 60 s", GoalN: 10000, GoalValue: 60},
}

// chartTitles names each chart file scale-<chart>.svg.
var chartTitles = map[string]string{
	"rss":           "lanyard-server RSS with N agents connected, servers summed (MiB)",
	"rss_per_agent": "lanyard-server RSS per connected agent, servers summed (KiB)",
	"cpu_per_agent": "lanyard-server CPU per connected agent, idle, servers summed (µs CPU per s)",
	"attest":        "Attest N agents (s): attested; and every agent holding its entries",
	"fanout":        "One entry change matching all N agents → agents have it (s)",
	"restart":       "Every server restarted → all N agents reconnected and resynced (s)",
}

// point is one figure at one N over the runs.
type point struct {
	N      int       `json:"n"`
	Runs   []float64 `json:"runs"`
	Median float64   `json:"median"`
	Min    float64   `json:"min"`
	Max    float64   `json:"max"`
}

type series struct {
	seriesDef
	Store  string   `json:"datastore"` // sqlite or postgres
	Points []*point `json:"points"`
}

// label names the series with its datastore, for tables and legends.
func (s *series) label() string { return s.Name + " — " + storeLabels[s.Store] }

// storeRuns is one measured datastore: how many servers shared it, and the runs of each N.
type storeRuns struct {
	Name    string `json:"name"`
	Servers int    `json:"servers"`
	Runs    int    `json:"runs"`
}

type scaleResults struct {
	Date    string  `json:"date"`
	Machine machine `json:"machine"`
	// Uptime and UptimeEnd are the load averages (1, 5, 15 min) at start and end.
	Uptime    string      `json:"load_average_start"`
	UptimeEnd string      `json:"load_average_end"`
	Seconds   float64     `json:"duration_seconds"`
	Stores    []storeRuns `json:"datastores"`
	Sizes     []int       `json:"sizes"`
	Runs      int         `json:"runs"` // -runs: of each size on sqlite, and of the one-agent figures
	Series    []*series   `json:"series"`
	Figures   []*figure   `json:"one_agent_figures"`
	Notes     []string    `json:"notes,omitempty"` // what failed and was measured another way
}

// seriesRecorder collects the runs of one datastore's series.
type seriesRecorder struct{ byKey map[string]*series }

func newSeriesRecorder(store string) *seriesRecorder {
	r := &seriesRecorder{byKey: map[string]*series{}}
	for _, d := range seriesDefs {
		r.byKey[d.Key] = &series{seriesDef: d, Store: store}
	}
	return r
}

func (r *seriesRecorder) add(key string, n int, v float64) {
	s := r.byKey[key]
	i := slices.IndexFunc(s.Points, func(p *point) bool { return p.N == n })
	if i < 0 {
		s.Points = append(s.Points, &point{N: n})
		i = len(s.Points) - 1
	}
	s.Points[i].Runs = append(s.Points[i].Runs, v)
}

// finishSeries computes medians and ranges, in seriesDefs' order and each figure's
// datastores in recs' order, skipping unmeasured series.
func finishSeries(recs []*seriesRecorder) []*series {
	var out []*series
	for _, d := range seriesDefs {
		for _, r := range recs {
			s := r.byKey[d.Key]
			if len(s.Points) == 0 {
				continue
			}
			slices.SortFunc(s.Points, func(a, b *point) int { return a.N - b.N })
			for _, p := range s.Points {
				p.Median, p.Min, p.Max = stats(p.Runs)
			}
			out = append(out, s)
		}
	}
	return out
}

func writeScaleTable(w io.Writer, res *scaleResults) {
	var stores []string
	for _, st := range res.Stores {
		runs := "runs"
		if st.Runs == 1 {
			runs = "run"
		}
		stores = append(stores, fmt.Sprintf("%s (%d %s)", storeLabels[st.Name], st.Runs, runs))
	}
	fmt.Fprintf(w, "Lanyard scale benchmark, %s, datastores: %s. Machine: %d cores (%s), %s, kernel %s. "+
		"Load average (1/5/15 min) %s at start, %s at end; the run took %.0f s. Each figure: median of the runs, [min – max]; "+
		"memory and CPU are the servers' summed (not PostgreSQL's).\n\n",
		res.Date, strings.Join(stores, ", "), res.Machine.Cores, res.Machine.CPU, res.Machine.Go, res.Machine.Kernel,
		res.Uptime, res.UptimeEnd, res.Seconds)
	fmt.Fprintln(w, "| figure | datastore | N agents | median | range | goal |")
	fmt.Fprintln(w, "| --- | --- | ---: | ---: | ---: | --- |")
	for _, s := range res.Series {
		for _, p := range s.Points {
			goal := ""
			if s.Goal != "" && p.N == s.GoalN {
				goal = s.Goal + verdict(p.Max < s.GoalValue)
			}
			fmt.Fprintf(w, "| %s | %s | %d | %s %s | %s – %s | %s |\n", s.Name, storeLabels[s.Store], p.N, format(p.Median), s.Unit, format(p.Min), format(p.Max), goal)
		}
	}
	if len(res.Figures) == 0 {
		return
	}
	fmt.Fprintln(w, "\n| figure | median | range | goal |")
	fmt.Fprintln(w, "| --- | ---: | ---: | --- |")
	for _, f := range res.Figures {
		fmt.Fprintf(w, "| %s | %s %s | %s – %s | %s |\n", f.Name, format(f.Median), f.Unit, format(f.Min), format(f.Max), f.Target)
	}
	for _, n := range res.Notes {
		fmt.Fprintf(w, "\n**Missed:** %s\n", n)
	}
	fmt.Fprintln(w, "\n| goal | measured (median, worst run) | |")
	fmt.Fprintln(w, "| --- | --- | --- |")
	for _, g := range goals(res) {
		fmt.Fprintf(w, "| %s | %s | %s |\n", g[0], g[1], g[2])
	}
}

// goals lists the goals beside what was measured: each as goal, measured, verdict.
func goals(res *scaleResults) [][3]string {
	var out [][3]string
	for _, s := range res.Series {
		if s.Goal == "" {
			continue
		}
		goal := fmt.Sprintf("%s: %s at N=%s", s.label(), s.Goal, groupDigits(s.GoalN))
		i := slices.IndexFunc(s.Points, func(p *point) bool { return p.N == s.GoalN })
		if i < 0 {
			out = append(out, [3]string{goal, "not measured at this N", ""})
			continue
		}
		p := s.Points[i]
		out = append(out, [3]string{goal, fmt.Sprintf("%s %s, %s %s", format(p.Median), s.Unit, format(p.Max), s.Unit), strings.TrimSpace(verdict(p.Max < s.GoalValue))})
	}
	for _, f := range res.Figures {
		var limit float64
		if f.Target == noSizeLimitHit {
			out = append(out, [3]string{"first full FetchX509SVID must not hit a message size limit", fmt.Sprintf("%s %s", format(f.Median), f.Unit), "(met)"})
			continue
		}
		if _, err := fmt.Sscanf(f.Target, "< %g", &limit); err != nil {
			continue
		}
		out = append(out, [3]string{fmt.Sprintf("%s: %s", f.Name, f.Target), fmt.Sprintf("%s %s, %s %s", format(f.Median), f.Unit, format(f.Max), f.Unit), strings.TrimSpace(verdict(f.Max < limit))})
	}
	for _, n := range res.Notes {
		goal := "every figure measured"
		if strings.Contains(n, "FetchX509SVID") {
			goal = "first full FetchX509SVID must not hit a message size limit"
		}
		out = append(out, [3]string{goal, n, "**missed**"})
	}
	return out
}

func verdict(met bool) string {
	if met {
		return " (met)"
	}
	return " (**missed**)"
}

// saveScale writes scale.json, scale.md and scale-<chart>.svg into dir.
func saveScale(dir string, res *scaleResults) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	j, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "scale.json"), append(j, '\n'), 0o644); err != nil {
		return err
	}
	var md strings.Builder
	md.WriteString("# Lanyard scale benchmark results\n\nWritten by `make bench-scale` (`lanyard-bench scale`, e2e/bench). Numbers from one machine; rerun to compare.\n\n")
	writeScaleTable(&md, res)
	md.WriteString("\n")
	for _, c := range chartOrder(res.Series) {
		fmt.Fprintf(&md, "![%s](scale-%s.svg)\n", chartTitles[c], c)
	}
	if err := os.WriteFile(filepath.Join(dir, "scale.md"), []byte(md.String()), 0o644); err != nil {
		return err
	}
	for _, c := range chartOrder(res.Series) {
		var lines []*series
		for _, s := range res.Series {
			if s.Chart == c {
				lines = append(lines, s)
			}
		}
		if err := os.WriteFile(filepath.Join(dir, "scale-"+c+".svg"), []byte(drawChart(chartTitles[c], lines)), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// chartOrder lists the charts of the measured series, first seen first.
func chartOrder(ss []*series) []string {
	var out []string
	for _, s := range ss {
		if !slices.Contains(out, s.Chart) {
			out = append(out, s.Chart)
		}
	}
	return out
}
