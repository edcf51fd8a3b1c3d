package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/spiffe/go-spiffe/v2/workloadapi"
)

// watch prints each X.509 context the Workload API pushes to this process: what a
// workload would see on rotation, entry changes and bundle changes.
func watch(ctx context.Context, args []string, stdout io.Writer) error {
	fs, sock := flags("api watch")
	count := fs.Int("count", 0, "stop after this many updates (0: until interrupted)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *count < 0 {
		return fmt.Errorf("-count must be 0 or more, not %d", *count)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	c, err := client(ctx, *sock)
	if err != nil {
		return err
	}
	defer c.Close()
	w := &printer{out: stdout, limit: *count, done: cancel}
	err = c.WatchX509Context(ctx, w)
	if w.limit > 0 && w.seen >= w.limit {
		return nil
	}
	if errors.Is(err, context.Canceled) {
		return nil // interrupted
	}
	return err
}

type printer struct {
	out         io.Writer
	limit, seen int
	done        func()
}

func (p *printer) OnX509ContextUpdate(x *workloadapi.X509Context) {
	p.seen++
	fmt.Fprintf(p.out, "Update %d at %s: %d SVID(s)\n", p.seen, time.Now().UTC().Format(time.RFC3339), len(x.SVIDs))
	for _, s := range x.SVIDs {
		fmt.Fprintf(p.out, "  %s  expires %s\n", s.ID, s.Certificates[0].NotAfter.UTC().Format(time.RFC3339))
	}
	var tds []string
	for _, b := range x.Bundles.Bundles() {
		tds = append(tds, b.TrustDomain().Name())
	}
	sort.Strings(tds)
	fmt.Fprintf(p.out, "  bundles: %s\n", strings.Join(tds, ", "))
	if p.limit > 0 && p.seen >= p.limit {
		p.done()
	}
}

func (p *printer) OnX509ContextWatchError(err error) {
	if status := err.Error(); !strings.Contains(status, "context canceled") {
		fmt.Fprintln(p.out, "  watch error (retrying):", status)
	}
}
