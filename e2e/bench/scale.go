package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	entryv1 "github.com/spiffe/spire-api-sdk/proto/spire/api/server/entry/v1"
	"github.com/spiffe/spire-api-sdk/proto/spire/api/types"
	"google.golang.org/grpc/codes"

	"github.com/lanyard-dev/lanyard/internal/fdlimit"
	"github.com/lanyard-dev/lanyard/server/datastore/postgres/pgtest"
)

// scaleOptions are the flags of `lanyard-bench scale`.
type scaleOptions struct {
	bin     string
	out     string
	sizes   []int
	runs    int
	stores  []string      // datastores to measure, in order
	pgRuns  int           // runs of each size on PostgreSQL
	big     int           // entries of the one big agent; 0 skips that figure
	idle    time.Duration // window over which idle server CPU is measured
	workers int           // attestations in flight at once
}

// groupPath is the SPIFFE ID every simulated agent holds through one entry of its own:
// an entry parented to it reaches every agent with one change, as a node set does.
const groupPath = "/group"

// parseScaleOptions reads the flags of `lanyard-bench scale`.
func parseScaleOptions(args []string) (scaleOptions, error) {
	fs := flag.NewFlagSet("scale", flag.ContinueOnError)
	var o scaleOptions
	var sizes, stores string
	fs.StringVar(&o.bin, "bin", "bin", "folder holding lanyard-server and lanyard-agent")
	fs.StringVar(&o.out, "out", "e2e/bench/results", "folder to write scale.md, scale.json and the scale-*.svg charts to")
	fs.StringVar(&sizes, "sizes", "100,1000,10000", "agent counts N, comma-separated")
	fs.IntVar(&o.runs, "runs", 3, "runs of each size (median and range are reported)")
	fs.StringVar(&stores, "datastores", "sqlite,postgres", "datastores, comma-separated: sqlite (one server), postgres (two servers sharing a throwaway PostgreSQL cluster; needs e2e/pg/install.sh)")
	fs.IntVar(&o.pgRuns, "pg-runs", 0, "runs of each size on postgres (0: as -runs)")
	fs.IntVar(&o.big, "big", 100000, "entries of the one agent of the last figure (0: skip it)")
	fs.DurationVar(&o.idle, "idle", 10*time.Second, "window over which the server's idle CPU is measured")
	fs.IntVar(&o.workers, "workers", 32, "attestations in flight at once")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	for _, s := range strings.Split(sizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 {
			return o, fmt.Errorf("-sizes %q: want positive whole numbers such as 100,1000,10000", sizes)
		}
		o.sizes = append(o.sizes, n)
	}
	slices.Sort(o.sizes)
	for _, s := range strings.Split(stores, ",") {
		s = strings.TrimSpace(s)
		if storeLabels[s] == "" || slices.Contains(o.stores, s) {
			return o, fmt.Errorf("-datastores %q: want sqlite, postgres or both, each once", stores)
		}
		o.stores = append(o.stores, s)
	}
	if o.pgRuns == 0 {
		o.pgRuns = o.runs
	}
	if o.runs < 1 || o.pgRuns < 1 || o.workers < 1 || o.big < 0 {
		return o, fmt.Errorf("-runs, -pg-runs and -workers must be at least 1, -big at least 0")
	}
	return o, nil
}

// runScaleCommand is `lanyard-bench scale`: N simulated agents against a real
// lanyard-server on SQLite and two sharing PostgreSQL, and one real agent with very many
// entries; writes scale.md, scale.json and a chart per figure, a line per datastore.
func runScaleCommand(ctx context.Context, args []string) error {
	o, err := parseScaleOptions(args)
	if err != nil {
		return err
	}
	var pg *pgtest.Cluster
	if slices.Contains(o.stores, storePostgres) {
		if pg, err = pgtest.New(); err != nil {
			return fmt.Errorf("-datastores postgres: %w (or measure SQLite only: -datastores sqlite)", err)
		}
		defer func() {
			if err := pg.Stop(); err != nil {
				progress("%v", err)
			}
		}()
	}
	if _, err := fdlimit.Raise(); err != nil {
		progress("%v; large N may run out of file descriptors", err)
	}
	started := time.Now()
	res := &scaleResults{Date: started.UTC().Format(time.RFC3339), Machine: describeMachine(), Uptime: uptime(),
		Sizes: o.sizes, Runs: o.runs}
	recs := make([]*seriesRecorder, len(o.stores))
	for i, st := range o.stores {
		recs[i] = newSeriesRecorder(st)
		r := storeRuns{Name: st, Servers: 1, Runs: o.runs}
		if st == storePostgres {
			r.Servers, r.Runs = 2, o.pgRuns
		}
		res.Stores = append(res.Stores, r)
	}
	rec := newRecorder()
	for run := 0; run < max(o.runs, o.pgRuns); run++ {
		for i, st := range res.Stores {
			if run >= st.Runs {
				continue
			}
			for _, n := range o.sizes {
				progress("scale run %d/%d, %s, N=%d agents", run+1, st.Runs, storeLabels[st.Name], n)
				if err := scaleRound(ctx, o, st.Name, pg, recs[i], run, n); errors.Is(err, errMissed) {
					progress("%v", err)
					res.Notes = append(res.Notes, err.Error())
				} else if err != nil {
					return fmt.Errorf("%s, N=%d: %w", st.Name, n, err)
				}
			}
		}
		if run >= o.runs {
			continue
		}
		if o.big > 0 {
			progress("scale run %d/%d, one agent with %d entries", run+1, o.runs, o.big)
			note, err := bigAgent(ctx, o.bin, rec, o.big)
			if err != nil {
				return fmt.Errorf("one agent with %d entries: %w", o.big, err)
			}
			if note != "" && !slices.Contains(res.Notes, note) {
				res.Notes = append(res.Notes, note)
			}
		}
	}
	res.Figures = rec.finish()
	res.Series = finishSeries(recs)
	res.Seconds = time.Since(started).Seconds()
	res.UptimeEnd = uptime()
	writeScaleTable(os.Stdout, res)
	if err := saveScale(o.out, res); err != nil {
		return fmt.Errorf("writing results: %w", err)
	}
	fmt.Printf("\nwritten to %s/scale.{json,md} and %s/scale-*.svg\n", o.out, o.out)
	return nil
}

// scaleRound measures the servers of one datastore with n simulated agents, split
// between the servers.
func scaleRound(ctx context.Context, o scaleOptions, store string, pg *pgtest.Cluster, rec *seriesRecorder, run, n int) error {
	srv, err := startScaleServers(ctx, o.bin, store, pg)
	if err != nil {
		return err
	}
	defer srv.close()
	d := srv.first()
	base, err := srv.rss()
	if err != nil {
		return err
	}
	f, err := newFleet(ctx, d.admin, d.td, srv.addrs(), n, 16)
	if err != nil {
		return err
	}
	defer f.close()
	ids := make([]spiffeid.ID, n)
	for i, a := range f.agents {
		ids[i] = a.id
	}
	if err := d.createGroupEntries(ctx, ids); err != nil {
		return err
	}

	start := time.Now()
	if err := f.attestAll(ctx, o.workers); err != nil {
		return err
	}
	rec.add("attest", n, time.Since(start).Seconds())
	if err := awaitSynced(ctx, f, start, 5*time.Minute); err != nil {
		return err
	}
	rec.add("connect", n, time.Since(start).Seconds())

	if err := idleFigures(ctx, o, rec, srv, n, base); err != nil {
		return err
	}
	path := fmt.Sprintf("/fanout/%d", run)
	lat, err := f.watchArrival(ctx, 5*time.Minute, path, func() error { return d.createChild(ctx, path) })
	if err != nil {
		return fmt.Errorf("entry change to every agent: %w", err)
	}
	rec.add("fanout_p50", n, percentile(lat, 0.5)/1000)
	rec.add("fanout_p99", n, percentile(lat, 0.99)/1000)
	rec.add("fanout_max", n, percentile(lat, 1)/1000)
	if other := f.arrivalsAt(1); len(other) > 0 { // no second server, or N=1
		rec.add("fanout_other_max", n, percentile(other, 1)/1000)
	}

	took, err := restartResync(ctx, o.bin, srv, f)
	if err != nil {
		if ctx.Err() != nil {
			return err
		}
		// Reported, not fatal: the other figures of the run still count.
		return fmt.Errorf("%w: %s, N=%d agents: server restart: %w", errMissed, storeLabels[store], n, err)
	}
	rec.add("restart", n, took.Seconds())
	return nil
}

// errMissed marks a figure that could not be measured; the run goes on.
var errMissed = errors.New("not measured")

// idleFigures records the servers' memory and CPU, summed, while nothing changes, with n
// agents connected; base is their RSS before any agent.
func idleFigures(ctx context.Context, o scaleOptions, rec *seriesRecorder, srv *scaleServers, n int, base float64) error {
	// Let the agents' first SVIDs be minted before measuring quiet.
	if err := pauseCtx(ctx, 2*time.Second); err != nil {
		return err
	}
	cpu0, err := srv.cpuSeconds()
	if err != nil {
		return err
	}
	t0 := time.Now()
	if err := pauseCtx(ctx, o.idle); err != nil {
		return err
	}
	cpu1, err := srv.cpuSeconds()
	if err != nil {
		return err
	}
	wall := time.Since(t0).Seconds()
	mem, err := srv.rss()
	if err != nil {
		return err
	}
	rec.add("rss", n, mem)
	rec.add("rss_per_agent", n, (mem-base)*1024/float64(n))
	rec.add("cpu_per_agent", n, (cpu1-cpu0)/wall/float64(n)*1e6)
	return nil
}

// awaitSynced waits until every agent has received a complete set after t.
func awaitSynced(ctx context.Context, f *fleet, t time.Time, within time.Duration) error {
	return waitFor(ctx, within, fmt.Sprintf("all %d agents to receive their entries", len(f.agents)), func() bool {
		n, _ := f.synced(t)
		return n == len(f.agents)
	})
}

// restartResync kills every server with SIGKILL and starts them again at once on the same
// data: the time from starting the new processes to the last agent holding a complete set
// from its server.
func restartResync(ctx context.Context, bin string, srv *scaleServers, f *fleet) (time.Duration, error) {
	restarted, err := srv.restart(ctx, bin)
	if err != nil {
		return 0, err
	}
	if err := awaitSynced(ctx, f, restarted, 3*time.Minute); err != nil {
		n, _ := f.synced(restarted)
		return 0, fmt.Errorf("%w (%d of %d agents resynced)", err, n, len(f.agents))
	}
	_, last := f.synced(restarted)
	return last.Sub(restarted), nil
}

// createGroupEntries gives every agent one entry with SPIFFE ID groupPath, parented to
// it, in batches of 500.
func (d *deployment) createGroupEntries(ctx context.Context, agents []spiffeid.ID) error {
	batch := make([]*types.Entry, 0, 500)
	for i, id := range agents {
		batch = append(batch, &types.Entry{
			SpiffeId:  &types.SPIFFEID{TrustDomain: benchTD, Path: groupPath},
			ParentId:  &types.SPIFFEID{TrustDomain: benchTD, Path: id.Path()},
			Selectors: []*types.Selector{{Type: "unix", Value: "uid:" + strconv.Itoa(otherUID(0))}},
		})
		if len(batch) == cap(batch) || i == len(agents)-1 {
			if err := d.batchCreate(ctx, batch); err != nil {
				return err
			}
			batch = batch[:0]
		}
	}
	return nil
}

// createChild creates one entry parented to groupPath: every agent is authorized for it.
func (d *deployment) createChild(ctx context.Context, path string) error {
	return d.batchCreate(ctx, []*types.Entry{{
		SpiffeId:  &types.SPIFFEID{TrustDomain: benchTD, Path: path},
		ParentId:  &types.SPIFFEID{TrustDomain: benchTD, Path: groupPath},
		Selectors: []*types.Selector{{Type: "unix", Value: "uid:" + strconv.Itoa(otherUID(1))}},
	}})
}

func (d *deployment) batchCreate(ctx context.Context, batch []*types.Entry) error {
	resp, err := entryv1.NewEntryClient(d.admin).BatchCreateEntry(ctx, &entryv1.BatchCreateEntryRequest{Entries: batch, OutputMask: &types.EntryMask{}})
	if err != nil {
		return fmt.Errorf("creating entries: %w", err)
	}
	for _, r := range resp.Results {
		if codes.Code(r.Status.Code) != codes.OK {
			return fmt.Errorf("creating entries: %s", r.Status.Message)
		}
	}
	return nil
}

func pauseCtx(ctx context.Context, d time.Duration) error {
	select {
	case <-time.After(d):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
