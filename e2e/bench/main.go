// Command bench measures a real lanyard-server and lanyard-agent, started fresh from the
// built binaries on embedded defaults: entry creation, entry-to-SVID propagation,
// Workload API throughput and latency, one workload with very many entries, server
// signing rate beside a raw x509.CreateCertificate loop, memory, and forced rotation (taint
// the CA → every SVID of a workload re-minted and delivered). It prints a table
// and writes it as JSON and Markdown. Run it with `make bench`.
//
// `lanyard-bench scale` measures one server against N simulated agents and one agent with
// very many entries (scale.go); run it with `make bench-scale`.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
)

type options struct {
	bin      string
	out      string
	sizes    []int
	runs     int
	samples  int
	duration time.Duration
	signN    int
	outage   time.Duration
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == loadClientFlag {
		if err := loadClient(os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, "bench load client:", err)
			os.Exit(1)
		}
		return
	}
	if len(os.Args) > 1 && os.Args[1] == "scale" {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		err := runScaleCommand(ctx, os.Args[2:])
		stop()
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench scale:", err)
			os.Exit(1)
		}
		return
	}
	var o options
	var sizes string
	quick := flag.Bool("quick", false, "tiny sizes and one run, to check the benchmark works (not for numbers)")
	flag.StringVar(&o.bin, "bin", "bin", "folder holding lanyard-server and lanyard-agent")
	flag.StringVar(&o.out, "out", "e2e/bench/results", "folder to write results.json and results.md to")
	flag.StringVar(&sizes, "sizes", "1,1000,10000", "entry counts, comma-separated; the largest is also the one-workload size")
	flag.IntVar(&o.runs, "runs", 3, "runs of each figure (median and range are reported)")
	flag.IntVar(&o.samples, "samples", 20, "propagation samples per run")
	flag.DurationVar(&o.duration, "duration", 3*time.Second, "length of each throughput run")
	flag.IntVar(&o.signN, "sign", 5000, "SVIDs signed per signing run")
	flag.DurationVar(&o.outage, "outage", 30*time.Second, "how long the server stays down before the restart of figure 7")
	forcedOnly := flag.Bool("forced-only", false, "measure only figure 8 (forced rotation), once per size")
	flag.Parse()
	if *quick {
		sizes, o.runs, o.samples, o.duration, o.signN = "1,20", 1, 3, 300*time.Millisecond, 100
		explicit := false
		flag.Visit(func(f *flag.Flag) { explicit = explicit || f.Name == "outage" })
		if !explicit { // -quick -outage 3m measures just a long outage cheaply
			o.outage = 2 * time.Second
		}
	}
	for _, s := range strings.Split(sizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 {
			fmt.Fprintf(os.Stderr, "bench: -sizes %q: want positive whole numbers such as 1,1000,10000\n", sizes)
			os.Exit(2)
		}
		o.sizes = append(o.sizes, n)
	}
	if o.runs < 1 || o.samples < 1 || o.signN < 1 {
		fmt.Fprintln(os.Stderr, "bench: -runs, -samples and -sign must be at least 1")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	all := runAll
	if *forcedOnly {
		all = runForced
	}
	res, err := all(ctx, o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
	writeTable(os.Stdout, res)
	if err := save(o.out, res); err != nil {
		fmt.Fprintln(os.Stderr, "bench: writing results:", err)
		os.Exit(1)
	}
	fmt.Printf("\nwritten to %s/results.{json,md}\n", o.out)
}

func runAll(ctx context.Context, o options) (*results, error) {
	rec := newRecorder()
	m := describeMachine()
	largest := o.sizes[len(o.sizes)-1]
	for run := 0; run < o.runs; run++ {
		progress("run %d/%d", run+1, o.runs)
		for _, n := range o.sizes {
			secs, err := timeCreate(ctx, o.bin, n)
			if err != nil {
				return nil, fmt.Errorf("creating %d entries: %w", n, err)
			}
			rec.add(fmt.Sprintf("1. batch-create N=%d entries (admin API)", n), "s", target(n == 10000, "< 5 s"), secs)
		}
		for i, n := range o.sizes {
			if err := agentRound(ctx, o, rec, run, n, i == 0, n == largest); err != nil {
				return nil, fmt.Errorf("agent round with %d entries: %w", n, err)
			}
		}
		if err := bigWorkload(ctx, o, rec, largest); err != nil {
			return nil, fmt.Errorf("one workload with %d entries: %w", largest, err)
		}
	}
	return &results{Date: time.Now().UTC().Format(time.RFC3339), Machine: m, Sizes: o.sizes,
		Runs: o.runs, Figures: rec.finish()}, nil
}

// agentRound runs a fresh server and agent holding n entries for other workloads, and
// measures propagation to an open stream; the smallest round also measures idle memory
// and Workload API throughput, the largest memory at n SVIDs.
func agentRound(ctx context.Context, o options, rec *recorder, run, n int, smallest, largest bool) error {
	d, err := deploy(ctx, o.bin, true)
	if err != nil {
		return err
	}
	defer d.close()
	if smallest {
		if err := recordRSS(rec, d, "idle", "< 25 MiB agent"); err != nil {
			return err
		}
	}
	if err := d.createEntries(ctx, d.agentID, "w", n, otherUID); err != nil {
		return err
	}
	if err := d.waitSVIDs(ctx, n); err != nil {
		return err
	}
	updates, err := d.openStream(ctx)
	if err != nil {
		return err
	}
	if smallest {
		// Before the propagation samples add identities: the workload holds one SVID, as
		// most do.
		if err := throughputFigures(ctx, o, rec, d); err != nil {
			return err
		}
	}
	lat, err := propagation(ctx, d, updates, run, o.samples)
	if err != nil {
		return err
	}
	name := fmt.Sprintf("2. entry → SVID on open stream, N=%d existing entries", n)
	tgt := map[int]string{1: "< 200 ms", 1000: "< 1000 ms"}[n]
	rec.add(name+", p50", "ms", tgt, percentile(lat, 0.5))
	rec.add(name+", p99", "ms", "", percentile(lat, 0.99))
	if smallest {
		took, err := restartRecovery(ctx, o.bin, d, updates, run, o.outage)
		if err != nil {
			return fmt.Errorf("server restart: %w", err)
		}
		rec.add(fmt.Sprintf("7. server kill -9, %s down, restart → new entry's SVID on open stream", o.outage), "ms", "< 2000 ms",
			float64(took.Microseconds())/1000)
	}
	if largest && !smallest {
		return recordRSS(rec, d, fmt.Sprintf("%d SVIDs for other workloads", n), "")
	}
	return nil
}

func throughputFigures(ctx context.Context, o options, rec *recorder, d *deployment) error {
	for _, kind := range []string{"x509", "jwt", "wit"} {
		name := map[string]string{"x509": "X.509 FetchX509SVID", "jwt": "JWT FetchJWTSVID", "wit": "WIT FetchWITSVID"}[kind]
		for _, conc := range []int{1, 8} {
			rate, lat, err := throughput(ctx, d, conc, o.duration, kind)
			if err != nil {
				return fmt.Errorf("%s at concurrency %d: %w", name, conc, err)
			}
			name := fmt.Sprintf("3. %s, concurrency %d", name, conc)
			rec.add(name+", throughput", "calls/s", target(kind == "x509" && conc == 8, "≥ 5000/s"), rate)
			rec.add(name+", p50", "ms", "", percentile(lat, 0.5))
			rec.add(name+", p99", "ms", "", percentile(lat, 0.99))
		}
	}
	return nil
}

// bigWorkload runs a fresh server and agent with n entries all matching this process.
func bigWorkload(ctx context.Context, o options, rec *recorder, n int) error {
	d, err := deploy(ctx, o.bin, true)
	if err != nil {
		return err
	}
	defer d.close()
	start := time.Now()
	if err := d.createEntries(ctx, d.agentID, "big", n, selfUID); err != nil {
		return err
	}
	if err := d.waitSVIDs(ctx, n); err != nil {
		return err
	}
	rec.add(fmt.Sprintf("4. %d entries for one workload: created → all SVIDs minted by the agent", n), "s", "", time.Since(start).Seconds())
	took, err := fullFetch(ctx, d, n)
	if err != nil {
		return err
	}
	rec.add(fmt.Sprintf("4. %d entries for one workload: first full FetchX509SVID response", n), "s", "", took.Seconds())
	if err := recordRSS(rec, d, fmt.Sprintf("%d SVIDs served to one workload", n), target(n == 10000, "< 80 MiB agent")); err != nil {
		return err
	}
	if err := recordForced(ctx, rec, d, n); err != nil {
		return err
	}
	server, err := signingRate(ctx, d, o.signN)
	if err != nil {
		return fmt.Errorf("signing: %w", err)
	}
	raw, err := rawSigningRate(o.signN)
	if err != nil {
		return err
	}
	rec.add("5. server signing via BatchNewX509SVID", "SVIDs/s", "", server)
	rec.add("5. raw x509.CreateCertificate loop", "SVIDs/s", "", raw)
	rec.add("5. signing ratio (server / raw)", "×", "≥ 0.6", server/raw)
	return nil
}

func recordRSS(rec *recorder, d *deployment, when, agentTarget string) error {
	s, err := rss(d.server)
	if err != nil {
		return err
	}
	a, err := rss(d.agent)
	if err != nil {
		return err
	}
	rec.add("6. server RSS, "+when, "MiB", "", s)
	rec.add("6. agent RSS, "+when, "MiB", agentTarget, a)
	return nil
}

func target(applies bool, t string) string {
	if applies {
		return t
	}
	return ""
}

func progress(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench: "+format+"\n", args...)
}
