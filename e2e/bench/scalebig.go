package main

import (
	"context"
	"fmt"
	"time"

	"github.com/spiffe/go-spiffe/v2/workloadapi"
	"google.golang.org/grpc"
)

// noSizeLimitHit is the goal of the first full FetchX509SVID response.
const noSizeLimitHit = "no size limit hit"

// bigAgent is the last scale figure: a real lanyard-agent whose node has n entries, all
// for this process, created before the agent starts. It records the time from starting
// the agent to every SVID minted (sync), the agent's RSS then, and the first complete
// FetchX509SVID response to a go-spiffe client with its default limits, as a workload
// would call it; note says what failed there, if anything.
func bigAgent(ctx context.Context, bin string, rec *recorder, n int) (note string, err error) {
	d, err := deploy(ctx, bin, false)
	if err != nil {
		return "", err
	}
	defer d.close()
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
	// 4 MiB. When that fails the figure is measured again with the limit raised, so the
	// time is known, and the failure is reported beside it.
	took, err := firstFetch(ctx, d, n)
	if err != nil {
		note = fmt.Sprintf("%s: the first FetchX509SVID to a go-spiffe client with default limits failed: %v", name, err)
		progress("%s", note)
		if took, err = firstFetch(ctx, d, n, workloadapi.WithDialOptions(grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(1<<30)))); err != nil {
			return note, err
		}
		rec.add(name+": first full FetchX509SVID response (receive limit raised to 1 GiB)", "s", "", took.Seconds())
		return note, nil
	}
	rec.add(name+": first full FetchX509SVID response (go-spiffe defaults)", "s", noSizeLimitHit, took.Seconds())
	return "", nil
}

// firstFetch times a new go-spiffe client's first FetchX509SVIDs, which must hold n SVIDs.
func firstFetch(ctx context.Context, d *deployment, n int, opts ...workloadapi.ClientOption) (time.Duration, error) {
	start := time.Now()
	c, err := workloadapi.New(ctx, append([]workloadapi.ClientOption{workloadapi.WithAddr("unix://" + d.apiSock)}, opts...)...)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	svids, err := c.FetchX509SVIDs(ctx)
	if err != nil {
		return 0, err
	}
	if len(svids) < n {
		return 0, fmt.Errorf("first FetchX509SVID response had %d SVIDs, want %d", len(svids), n)
	}
	return time.Since(start), nil
}
