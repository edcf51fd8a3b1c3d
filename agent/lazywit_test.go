package agent

import (
	"context"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/workloadapi"
)

// The agent mints a WIT-SVID only once a workload asks for one, and that first request
// is answered with it (it waits for the mint instead of failing): one FetchWITSVIDs call,
// no retry, after the agent already serves the entry's X.509-SVID.
func TestTheFirstWITSVIDRequestIsAnsweredByMintingIt(t *testing.T) {
	e := newEnv(t)
	cfg, agentID := e.agentConfig()
	e.entry("web", agentID, time.Hour)
	a := e.startAgent(cfg)
	a.servesID(t, "web")
	client, err := workloadapi.New(t.Context(), workloadapi.WithAddr("unix://"+cfg.SocketPath))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	svids, err := client.FetchWITSVIDs(ctx, "")
	if err != nil {
		t.Fatalf("the first FetchWITSVIDs failed: %v", err)
	}
	if len(svids) != 1 || svids[0].ID.String() != "spiffe://"+testTD+"/web" {
		t.Fatalf("WIT-SVIDs %v; want /web's", svids)
	}
}
