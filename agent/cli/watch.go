package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/spiffe/go-spiffe/v2/workloadapi"

	"github.com/lanyard-dev/lanyard/internal/command"
)

// watch prints each X.509 context the Workload API pushes to this process: what a
// workload would see on rotation, entry changes and bundle changes. With -output json
// each update is one line, the Workload API's X509SVIDResponse.
func watch(fs *flag.FlagSet) workloadCall {
	count := fs.Int("count", 0, "stop after this many updates (0: until interrupted)")
	return workloadCall{
		Check: func(*command.Env) error {
			if *count < 0 {
				return fmt.Errorf("-count must be 0 or more, not %d", *count)
			}
			return nil
		},
		Do: func(ctx context.Context, e *command.Env, c *workloadapi.Client) (*command.Output, error) {
			ctx, cancel := context.WithCancel(ctx)
			defer cancel()
			p := &printer{env: e, limit: *count, done: cancel}
			err := c.WatchX509Context(ctx, p)
			switch {
			case p.err != nil:
				return nil, p.err
			case p.limit > 0 && p.seen >= p.limit:
				return nil, nil
			case errors.Is(err, context.Canceled):
				return nil, nil // interrupted
			}
			return nil, err
		},
	}
}

type printer struct {
	env         *command.Env
	limit, seen int
	done        func()
	err         error
}

func (p *printer) OnX509ContextUpdate(x *workloadapi.X509Context) {
	p.seen++
	if p.limit > 0 && p.seen >= p.limit {
		defer p.done()
	}
	if p.env.JSON {
		resp, err := x509Response(x)
		if err == nil {
			err = command.PrintJSON(p.env.Stdout, resp)
		}
		if err != nil {
			p.err = err
			p.done()
		}
		return
	}
	printUpdate(p.env.Stdout, p.seen, x)
}

func printUpdate(w io.Writer, n int, x *workloadapi.X509Context) {
	fmt.Fprintf(w, "Update %d at %s: %d SVID(s)\n", n, time.Now().UTC().Format(time.RFC3339), len(x.SVIDs))
	for _, s := range x.SVIDs {
		fmt.Fprintf(w, "  %s  expires %s\n", s.ID, s.Certificates[0].NotAfter.UTC().Format(time.RFC3339))
	}
	var tds []string
	for _, b := range x.Bundles.Bundles() {
		tds = append(tds, b.TrustDomain().Name())
	}
	sort.Strings(tds)
	fmt.Fprintf(w, "  bundles: %s\n", strings.Join(tds, ", "))
}

func (p *printer) OnX509ContextWatchError(err error) {
	if status := err.Error(); !strings.Contains(status, "context canceled") && !p.env.JSON {
		fmt.Fprintln(p.env.Stdout, "  watch error (retrying):", status)
	}
}
