package main

import (
	"context"
	"fmt"
	"time"

	"github.com/spiffe/go-spiffe/v2/workloadapi"
)

// bigAgent is the last scale figure: a real lanyard-agent whose node has n entries, all
// for this process, created before the agent starts. It records the time from starting
// the agent to every SVID minted (sync), the agent's RSS then, and the first complete
// FetchX509SVID response to a go-spiffe client with its default limits, as a workload
// would call it.
func bigAgent(ctx context.Context, bin string, rec *recorder, n int) error {
	d, err := deploy(ctx, bin, false)
	if err != nil {
		return err
	}
	defer d.close()
	tok, err := d.joinToken(ctx)
	if err != nil {
		return err
	}
	if err := d.createEntries(ctx, d.agentID, "big", n, selfUID); err != nil {
		return err
	}
	start := time.Now()
	if err := d.startAgentWith(ctx, bin, tok, 5*time.Minute); err != nil {
		return err
	}
	if err := d.waitSVIDs(ctx, n); err != nil {
		return err
	}
	name := fmt.Sprintf("one agent with %d entries", n)
	rec.add(name+": agent start → all SVIDs minted (sync)", "s", "< 30 s", time.Since(start).Seconds())
	mem, err := rss(d.agent)
	if err != nil {
		return err
	}
	rec.add(name+": agent RSS", "MiB", "< 500 MiB", mem)
	if srv, err := rss(d.server); err == nil {
		rec.add(name+": server RSS", "MiB", "", srv)
	}
	fetchStart := time.Now()
	c, err := workloadapi.New(ctx, workloadapi.WithAddr("unix://"+d.apiSock))
	if err != nil {
		return err
	}
	defer c.Close()
	svids, err := c.FetchX509SVIDs(ctx)
	if err != nil {
		return fmt.Errorf("first FetchX509SVID with go-spiffe's default limits: %w", err)
	}
	if len(svids) < n {
		return fmt.Errorf("first FetchX509SVID response had %d SVIDs, want %d", len(svids), n)
	}
	rec.add(name+": first full FetchX509SVID response (go-spiffe defaults)", "s", "no size limit hit", time.Since(fetchStart).Seconds())
	return nil
}
