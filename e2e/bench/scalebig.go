package main

import (
	"context"
	"fmt"
	"time"

	"github.com/spiffe/go-spiffe/v2/workloadapi"
)

// noSizeLimitHit is the goal of the first full FetchX509SVID response.
const noSizeLimitHit = "no size limit hit"

// bigAgent is the last scale figure: a real lanyard-agent whose node has n entries, all
// for this process, created before the agent starts. It records the time from starting
// the agent to every SVID minted (sync), the agent's RSS then, and the first complete
// FetchX509SVID response to a go-spiffe client with its default limits, as a workload
// would call it, and how many SVIDs it held; note says what failed there, if anything.
func bigAgent(ctx context.Context, bin string, rec *recorder, n int) (note string, err error) {
	d, err := deploy(ctx, bin, false)
	if err != nil {
		return "", err
	}
	defer d.close()
	d.goSPIFFEDefaults = true
	tok, err := d.joinToken(ctx)
	if err != nil {
		return "", err
	}
	if err := d.createEntries(ctx, d.agentID, "big", n, selfUID); err != nil {
		return "", err
	}
	start := time.Now()
	if err := d.startAgentWith(ctx, bin, tok, 5*time.Minute); err != nil {
		return "", err
	}
	if err := d.waitSVIDs(ctx, n); err != nil {
		return "", err
	}
	name := fmt.Sprintf("one agent with %d entries", n)
	rec.add(name+": agent start → all SVIDs minted (sync)", "s", "< 30 s", time.Since(start).Seconds())
	mem, err := rss(d.agent)
	if err != nil {
		return "", err
	}
	rec.add(name+": agent RSS", "MiB", "< 500 MiB", mem)
	if srv, err := rss(d.server); err == nil {
		rec.add(name+": server RSS", "MiB", "", srv)
	}
	// As a workload calls it: go-spiffe's default client, whose gRPC receive limit is
	// 4 MiB. The workload matches all n entries; the agent answers with as many SVIDs as
	// fit that limit (the default SVID first), so the call must succeed.
	took, served, err := firstFetch(ctx, d)
	if err != nil {
		note = fmt.Sprintf("%s: the first FetchX509SVID to a go-spiffe client with default limits failed: %v", name, err)
		progress("%s", note)
		return note, nil
	}
	rec.add(name+": first FetchX509SVID response (go-spiffe defaults)", "s", noSizeLimitHit, took.Seconds())
	rec.add(name+": SVIDs in that response (all that fit in 4 MiB)", "SVIDs", "", float64(served))
	return "", nil
}

// firstFetch times a new go-spiffe client's first FetchX509SVIDs and counts its SVIDs.
func firstFetch(ctx context.Context, d *deployment) (time.Duration, int, error) {
	start := time.Now()
	c, err := workloadapi.New(ctx, workloadapi.WithAddr("unix://"+d.apiSock))
	if err != nil {
		return 0, 0, err
	}
	defer c.Close()
	svids, err := c.FetchX509SVIDs(ctx)
	if err != nil {
		return 0, 0, err
	}
	return time.Since(start), len(svids), nil
}
