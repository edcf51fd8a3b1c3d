package main

import (
	"slices"
	"strings"
	"testing"
)

func TestScaleFlags(t *testing.T) {
	o, err := parseScaleOptions(nil)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(o.stores, []string{storeSQLite, storePostgres}) || o.pgRuns != o.runs {
		t.Errorf("defaults: datastores %v, pg runs %d, runs %d; want both datastores, pg runs as -runs", o.stores, o.pgRuns, o.runs)
	}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"an unknown datastore", []string{"-datastores", "sqlite,mysql"}, `-datastores "sqlite,mysql"`},
		{"a datastore twice", []string{"-datastores", "postgres,postgres"}, "each once"},
		{"no runs on postgres", []string{"-pg-runs", "-1"}, "-pg-runs"},
		{"a size that is not a number", []string{"-sizes", "100,many"}, `-sizes "100,many"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := parseScaleOptions(tc.args); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one naming %q", err, tc.want)
			}
		})
	}
}

// Each datastore gets its own line on a chart, told apart in the legend and by its dash;
// a goal shared by both is stated once.
func TestChartDrawsALinePerDatastore(t *testing.T) {
	def := seriesDefs[slices.IndexFunc(seriesDefs, func(d seriesDef) bool { return d.Key == "restart" })]
	var lines []*series
	for _, store := range []string{storeSQLite, storePostgres} {
		s := &series{seriesDef: def, Store: store}
		for _, n := range []int{100, 1000} {
			s.Points = append(s.Points, &point{N: n, Median: 2, Min: 1, Max: 3})
		}
		lines = append(lines, s)
	}
	svg := drawChart(chartTitles["restart"], lines)
	for _, want := range []string{"— SQLite, 1 server", "— PostgreSQL, 2 servers", `stroke-dasharray="7 4"`, `fill="white"`} {
		if !strings.Contains(svg, want) {
			t.Errorf("chart lacks %q", want)
		}
	}
	if n := strings.Count(svg, "goal &lt; 60 s"); n != 1 {
		t.Errorf("the goal is stated %d times, want once", n)
	}
}
