package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"

	agentv1 "github.com/spiffe/spire-api-sdk/proto/spire/api/server/agent/v1"
	"github.com/spiffe/spire-api-sdk/proto/spire/api/types"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	agentapi "github.com/lanyard-dev/lanyard/server/api/agent"
)

// agentFilterFlags are the filters of `agent list` and `agent count`.
type agentFilterFlags struct {
	selectors       stringList
	matchSelectors  string
	attestationType string
	banned          bool
	canReattest     bool
	expiresBefore   string
}

func (f *agentFilterFlags) register(fs *flag.FlagSet) {
	fs.Var(&f.selectors, "selector", "node selector type:value to match (repeatable)")
	fs.StringVar(&f.matchSelectors, "matchSelectorsOn", "superset", "how -selector matches: "+matchNames)
	fs.StringVar(&f.attestationType, "attestationType", "", "only agents attested this way, e.g. join_token")
	fs.BoolVar(&f.banned, "banned", false, "only agents whose banned flag equals this (-banned=false for the others)")
	fs.BoolVar(&f.canReattest, "canReattest", false, "only agents that can (or, =false, cannot) re-attest")
	fs.StringVar(&f.expiresBefore, "expiresBefore", "", `only agents whose SVID expires before this time: RFC 3339 or SPIRE's "2006-01-02 15:04:05 -0700 -07"`)
}

func (f *agentFilterFlags) filter(fs *flag.FlagSet) (*agentv1.ListAgentsRequest_Filter, error) {
	filter := &agentv1.ListAgentsRequest_Filter{ByAttestationType: f.attestationType}
	match, err := parseSelectorMatch("-matchSelectorsOn", f.matchSelectors)
	if err != nil {
		return nil, err
	}
	if len(f.selectors) > 0 {
		selectors, err := parseSelectors(f.selectors)
		if err != nil {
			return nil, err
		}
		filter.BySelectorMatch = &types.SelectorMatch{Selectors: selectors, Match: match}
	}
	set := setFlags(fs)
	if set["banned"] {
		filter.ByBanned = wrapperspb.Bool(f.banned)
	}
	if set["canReattest"] {
		filter.ByCanReattest = wrapperspb.Bool(f.canReattest)
	}
	if f.expiresBefore != "" {
		if _, err := agentapi.ParseExpiresBefore(f.expiresBefore); err != nil {
			return nil, fmt.Errorf("-expiresBefore: %w", err)
		}
		filter.ByExpiresBefore = f.expiresBefore
	}
	return filter, nil
}

func agentList(ctx context.Context, e *env, args []string) error {
	fs, c := newFlags("agent list")
	var f agentFilterFlags
	f.register(fs)
	if err := parse(e, fs, c, args); err != nil {
		return err
	}
	filter, err := f.filter(fs)
	if err != nil {
		return err
	}
	cl, err := dial(ctx, c.socketPath)
	if err != nil {
		return err
	}
	defer cl.Close()

	var agents []*types.Agent
	req := &agentv1.ListAgentsRequest{Filter: filter, PageSize: listPageSize}
	for {
		resp, err := cl.agents.ListAgents(ctx, req)
		if err != nil {
			return rpcError("agent list", err)
		}
		agents = append(agents, resp.Agents...)
		if resp.NextPageToken == "" {
			break
		}
		if resp.NextPageToken == req.PageToken {
			return errors.New("agent list: server returned the same page token twice")
		}
		req.PageToken = resp.NextPageToken
	}
	if c.output == "json" {
		return printJSON(e, &agentv1.ListAgentsResponse{Agents: agents})
	}
	printAgents(e.stdout, agents)
	return nil
}

func agentCount(ctx context.Context, e *env, args []string) error {
	fs, c := newFlags("agent count")
	var f agentFilterFlags
	f.register(fs)
	if err := parse(e, fs, c, args); err != nil {
		return err
	}
	lf, err := f.filter(fs)
	if err != nil {
		return err
	}
	cl, err := dial(ctx, c.socketPath)
	if err != nil {
		return err
	}
	defer cl.Close()
	resp, err := cl.agents.CountAgents(ctx, &agentv1.CountAgentsRequest{Filter: &agentv1.CountAgentsRequest_Filter{
		ByAttestationType: lf.ByAttestationType, BySelectorMatch: lf.BySelectorMatch, ByBanned: lf.ByBanned,
	}})
	if err != nil {
		return rpcError("agent count", err)
	}
	if c.output == "json" {
		return printJSON(e, resp)
	}
	fmt.Fprintln(e.stdout, plural(int(resp.Count), "attested agent", "attested agents"))
	return nil
}

// agentByID parses the flags of the commands that act on one agent (-spiffeID required)
// and connects.
func agentByID(ctx context.Context, e *env, name string, args []string) (*client, *common, *types.SPIFFEID, error) {
	fs, c := newFlags(name)
	spiffeID := fs.String("spiffeID", "", "SPIFFE ID of the agent, e.g. spiffe://example.org/spire/agent/join_token/TOKEN")
	if err := parse(e, fs, c, args); err != nil {
		return nil, nil, nil, err
	}
	if *spiffeID == "" {
		return nil, nil, nil, errors.New("-spiffeID is required")
	}
	id, err := parseID("-spiffeID", *spiffeID)
	if err != nil {
		return nil, nil, nil, err
	}
	cl, err := dial(ctx, c.socketPath)
	if err != nil {
		return nil, nil, nil, err
	}
	return cl, c, id, nil
}

func agentShow(ctx context.Context, e *env, args []string) error {
	cl, c, id, err := agentByID(ctx, e, "agent show", args)
	if err != nil {
		return err
	}
	defer cl.Close()
	agent, err := cl.agents.GetAgent(ctx, &agentv1.GetAgentRequest{Id: id})
	if err != nil {
		return rpcError("agent show "+idString(id), err)
	}
	if c.output == "json" {
		return printJSON(e, agent)
	}
	printAgent(e.stdout, agent)
	return nil
}

func agentEvict(ctx context.Context, e *env, args []string) error {
	cl, c, id, err := agentByID(ctx, e, "agent evict", args)
	if err != nil {
		return err
	}
	defer cl.Close()
	if _, err := cl.agents.DeleteAgent(ctx, &agentv1.DeleteAgentRequest{Id: id}); err != nil {
		return rpcError("agent evict "+idString(id), err)
	}
	if c.output == "json" {
		return printJSON(e, &emptypb.Empty{})
	}
	fmt.Fprintln(e.stdout, "Agent evicted successfully")
	return nil
}

func agentBan(ctx context.Context, e *env, args []string) error {
	cl, c, id, err := agentByID(ctx, e, "agent ban", args)
	if err != nil {
		return err
	}
	defer cl.Close()
	if _, err := cl.agents.BanAgent(ctx, &agentv1.BanAgentRequest{Id: id}); err != nil {
		return rpcError("agent ban "+idString(id), err)
	}
	if c.output == "json" {
		return printJSON(e, &emptypb.Empty{})
	}
	fmt.Fprintln(e.stdout, "Agent banned successfully")
	return nil
}

func tokenGenerate(ctx context.Context, e *env, args []string) error {
	fs, c := newFlags("token generate")
	ttl := fs.Int("ttl", 600, "seconds the token stays valid")
	spiffeID := fs.String("spiffeID", "", "extra SPIFFE ID for the agent that attests with this token (optional)")
	if err := parse(e, fs, c, args); err != nil {
		return err
	}
	if *ttl <= 0 {
		return fmt.Errorf("-ttl must be a positive number of seconds, not %d", *ttl)
	}
	secs, err := seconds("-ttl", *ttl)
	if err != nil {
		return err
	}
	req := &agentv1.CreateJoinTokenRequest{Ttl: secs}
	if *spiffeID != "" {
		if req.AgentId, err = parseID("-spiffeID", *spiffeID); err != nil {
			return err
		}
	}
	cl, err := dial(ctx, c.socketPath)
	if err != nil {
		return err
	}
	defer cl.Close()
	token, err := cl.agents.CreateJoinToken(ctx, req)
	if err != nil {
		return rpcError("token generate", err)
	}
	if c.output == "json" {
		return printJSON(e, token)
	}
	fmt.Fprintf(e.stdout, "Token: %s\n", token.Value)
	return nil
}
