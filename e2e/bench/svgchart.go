package main

import (
	"fmt"
	"html"
	"math"
	"slices"
	"strings"
)

// Chart geometry, in SVG user units.
const (
	chartW, chartH             = 760, 380
	padL, padR, padT, padB     = 70, 24, 44, 64
	legendRow                  = 16
	whiskerCap                 = 5
	lineOffset                 = 6 // horizontal shift between series, so whiskers do not overlap
	goalOffChartRatio          = 4 // a goal this many times above the data is stated, not drawn
	chartFont                  = `font-family="sans-serif" font-size="12"`
	chartTitleFont             = `font-family="sans-serif" font-size="14" font-weight="bold"`
	chartGrid, chartAxis       = "#e4e4e4", "#444"
	chartGoalColour            = "#c0392b"
	plotW                      = chartW - padL - padR
	plotH                      = chartH - padT - padB
	minXSpanDecades            = 1.0
	xPadDecades                = 0.15
	chartYTicks                = 5
	chartPointRadius           = 3.5
	chartStroke, whiskerStroke = 2, 1.5
)

var chartColours = []string{"#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd"}

// Each datastore's lines are drawn their own way: solid with filled points, then dashed
// with hollow points.
var storeDashes = []string{"none", "7 4"}

// chartStyle is how one series is drawn: its colour follows its figure, its dash and
// points its datastore.
type chartStyle struct {
	colour, dash, fill, label string
}

func chartStyles(lines []*series) []chartStyle {
	var keys, stores []string
	for _, s := range lines {
		if !slices.Contains(keys, s.Key) {
			keys = append(keys, s.Key)
		}
		if !slices.Contains(stores, s.Store) {
			stores = append(stores, s.Store)
		}
	}
	out := make([]chartStyle, len(lines))
	for i, s := range lines {
		st := slices.Index(stores, s.Store) % len(storeDashes)
		out[i] = chartStyle{colour: chartColours[slices.Index(keys, s.Key)%len(chartColours)], dash: storeDashes[st], label: s.Name}
		out[i].fill = out[i].colour
		if st > 0 {
			out[i].fill = "white"
		}
		if len(stores) > 1 {
			out[i].label = s.label()
		}
	}
	return out
}

// chartGoals are the distinct goals of lines, one per figure.
func chartGoals(lines []*series) []*series {
	var out []*series
	for _, s := range lines {
		if s.Goal != "" && !slices.ContainsFunc(out, func(g *series) bool { return g.Key == s.Key }) {
			out = append(out, s)
		}
	}
	return out
}

// drawChart draws series against N as an SVG: N on a log scale, each series' median as
// a line with points and its min–max range over the runs as whiskers, a style per
// datastore, and the goal (if a series has one) as a dashed red line.
func drawChart(title string, lines []*series) string {
	lo, hi, ymax := math.Inf(1), math.Inf(-1), 0.0
	for _, s := range lines {
		for _, p := range s.Points {
			lo, hi = math.Min(lo, math.Log10(float64(p.N))), math.Max(hi, math.Log10(float64(p.N)))
			ymax = math.Max(ymax, p.Max)
		}
	}
	if hi-lo < minXSpanDecades {
		mid := (hi + lo) / 2
		lo, hi = mid-minXSpanDecades/2, mid+minXSpanDecades/2
	}
	lo, hi = lo-xPadDecades, hi+xPadDecades
	goals := chartGoals(lines)
	for _, s := range goals {
		if s.GoalValue <= goalOffChartRatio*ymax || ymax == 0 {
			ymax = math.Max(ymax, s.GoalValue)
		}
	}
	step := niceStep(ymax / chartYTicks)
	ytop := step * math.Ceil(ymax/step)
	if ytop == 0 {
		ytop = 1
	}
	x := func(n int) float64 { return padL + (math.Log10(float64(n))-lo)/(hi-lo)*plotW }
	y := func(v float64) float64 { return padT + plotH - v/ytop*plotH }

	var b strings.Builder
	height := chartH + legendRow*(len(lines)+len(goals)+1)
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d">`+"\n", chartW, height, chartW, height)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	fmt.Fprintf(&b, `<text x="%d" y="24" %s>%s</text>`+"\n", padL, chartTitleFont, html.EscapeString(title))
	for i := 0; float64(i)*step <= ytop+step/1e6; i++ {
		v := float64(i) * step
		fmt.Fprintf(&b, `<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="%s"/>`+"\n", padL, padL+plotW, y(v), y(v), chartGrid)
		fmt.Fprintf(&b, `<text x="%d" y="%.1f" text-anchor="end" %s>%s</text>`+"\n", padL-6, y(v)+4, chartFont, format(v))
	}
	for _, n := range xTicks(lines) {
		fmt.Fprintf(&b, `<line x1="%.1f" x2="%.1f" y1="%d" y2="%d" stroke="%s"/>`+"\n", x(n), x(n), padT, padT+plotH, chartGrid)
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle" %s>%s</text>`+"\n", x(n), padT+plotH+16, chartFont, groupDigits(n))
	}
	fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="middle" %s>N agents (log scale)</text>`+"\n", padL+plotW/2, padT+plotH+36, chartFont)
	fmt.Fprintf(&b, `<path d="M%d %d V%d H%d" fill="none" stroke="%s"/>`+"\n", padL, padT, padT+plotH, padL+plotW, chartAxis)
	styles := chartStyles(lines)
	for i, s := range lines {
		st := styles[i]
		colour := st.colour
		dx := (float64(i) - float64(len(lines)-1)/2) * lineOffset
		var path []string
		for _, p := range s.Points {
			px := x(p.N) + dx
			path = append(path, fmt.Sprintf("%.1f %.1f", px, y(p.Median)))
			fmt.Fprintf(&b, `<path d="M%.1f %.1f V%.1f M%.1f %.1f h%d M%.1f %.1f h%d" stroke="%s" stroke-width="%v"/>`+"\n",
				px, y(p.Min), y(p.Max), px-whiskerCap, y(p.Min), 2*whiskerCap, px-whiskerCap, y(p.Max), 2*whiskerCap, colour, whiskerStroke)
			fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="%v" fill="%s" stroke="%s"><title>%s, N=%d: median %s %s, range %s – %s</title></circle>`+"\n",
				px, y(p.Median), chartPointRadius, st.fill, colour, html.EscapeString(st.label), p.N, format(p.Median), s.Unit, format(p.Min), format(p.Max))
		}
		fmt.Fprintf(&b, `<path d="M%s" fill="none" stroke="%s" stroke-width="%v" stroke-dasharray="%s"/>`+"\n", strings.Join(path, " L"), colour, chartStroke, st.dash)
		ly := chartH + legendRow*i - 6
		fmt.Fprintf(&b, `<line x1="%d" x2="%d" y1="%d" y2="%d" stroke="%s" stroke-width="3" stroke-dasharray="%s"/>`+"\n", padL, padL+20, ly-4, ly-4, colour, st.dash)
		fmt.Fprintf(&b, `<text x="%d" y="%d" %s>%s</text>`+"\n", padL+26, ly, chartFont, html.EscapeString(st.label))
	}
	fmt.Fprintf(&b, `<text x="%d" y="%d" %s>lines join the medians; whiskers span min–max over the runs</text>`+"\n",
		padL+26, chartH+legendRow*len(lines)-6, chartFont)
	for i, s := range goals {
		ly := chartH + legendRow*(len(lines)+1+i) - 6
		label := fmt.Sprintf("goal %s at N=%s", s.Goal, groupDigits(s.GoalN))
		if s.GoalValue <= ytop {
			fmt.Fprintf(&b, `<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="%s" stroke-dasharray="6 4"/>`+"\n", padL, padL+plotW, y(s.GoalValue), y(s.GoalValue), chartGoalColour)
			fmt.Fprintf(&b, `<line x1="%d" x2="%d" y1="%d" y2="%d" stroke="%s" stroke-dasharray="6 4"/>`+"\n", padL, padL+20, ly-4, ly-4, chartGoalColour)
		} else {
			label += " (far above the chart)"
		}
		fmt.Fprintf(&b, `<text x="%d" y="%d" %s>%s</text>`+"\n", padL+26, ly, chartFont, html.EscapeString(label))
	}
	b.WriteString("</svg>\n")
	return b.String()
}

// xTicks are the measured N values.
func xTicks(lines []*series) []int {
	seen := map[int]bool{}
	var out []int
	for _, s := range lines {
		for _, p := range s.Points {
			if !seen[p.N] {
				seen[p.N] = true
				out = append(out, p.N)
			}
		}
	}
	return out
}

// niceStep rounds a raw tick step up to 1, 2 or 5 times a power of ten.
func niceStep(raw float64) float64 {
	if raw <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= raw {
			return m * p
		}
	}
	return 10 * p
}

// groupDigits writes n with thousands separators: 10000 → 10,000.
func groupDigits(n int) string {
	s := fmt.Sprint(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
