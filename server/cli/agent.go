package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	agentv1 "github.com/spiffe/spire-api-sdk/proto/spire/api/server/agent/v1"
	"github.com/spiffe/spire-api-sdk/proto/spire/api/types"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/lanyard-dev/lanyard/internal/command"
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
	var err error
	if filter.BySelectorMatch, err = selectorFilter(f.selectors, f.matchSelectors); err != nil {
		return nil, err
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

func agentList(fs *flag.FlagSet) call {
	var f agentFilterFlags
	f.register(fs)
	var filter *agentv1.ListAgentsRequest_Filter
	return call{
		Check: func(*command.Env) (err error) {
			filter, err = f.filter(fs)
			return err
		},
		Do: func(ctx context.Context, _ *command.Env, cl *client) (*command.Output, error) {
			req := &agentv1.ListAgentsRequest{Filter: filter, PageSize: listPageSize}
			agents, err := listAll("agent list", &req.PageToken, func() ([]*types.Agent, string, error) {
				resp, err := cl.agents.ListAgents(ctx, req)
				return resp.GetAgents(), resp.GetNextPageToken(), err
			})
			if err != nil {
				return nil, err
			}
			return command.Print(&agentv1.ListAgentsResponse{Agents: agents}, func(w io.Writer) { printAgents(w, agents) }), nil
		},
	}
}

func agentCount(fs *flag.FlagSet) call {
	var f agentFilterFlags
	f.register(fs)
	var lf *agentv1.ListAgentsRequest_Filter
	return call{
		Check: func(*command.Env) (err error) {
			lf, err = f.filter(fs)
			return err
		},
		Do: command.Send("agent count", func(ctx context.Context, cl *client) (*agentv1.CountAgentsResponse, error) {
			return cl.agents.CountAgents(ctx, &agentv1.CountAgentsRequest{Filter: &agentv1.CountAgentsRequest_Filter{
				ByAttestationType: lf.ByAttestationType, BySelectorMatch: lf.BySelectorMatch, ByBanned: lf.ByBanned,
			}})
		}, func(w io.Writer, resp *agentv1.CountAgentsResponse) {
			fmt.Fprintln(w, plural(int(resp.Count), "attested agent", "attested agents"))
		}),
	}
}

// agentByID is a command that acts on one agent (-spiffeID required): rpc makes the call,
// text prints its answer.
func agentByID[T proto.Message](fs *flag.FlagSet, what string, rpc func(context.Context, *client, *types.SPIFFEID) (T, error), text func(io.Writer, T)) call {
	spiffeID := fs.String("spiffeID", "", "SPIFFE ID of the agent, e.g. spiffe://example.org/spire/agent/join_token/TOKEN")
	var id *types.SPIFFEID
	return call{
		Check: func(*command.Env) (err error) {
			if *spiffeID == "" {
				return errors.New("-spiffeID is required")
			}
			id, err = parseID("-spiffeID", *spiffeID)
			return err
		},
		Do: func(ctx context.Context, e *command.Env, cl *client) (*command.Output, error) {
			return command.Send(what+" "+idString(id), func(ctx context.Context, cl *client) (T, error) { return rpc(ctx, cl, id) }, text)(ctx, e, cl)
		},
	}
}

func agentShow(fs *flag.FlagSet) call {
	return agentByID(fs, "agent show", func(ctx context.Context, cl *client, id *types.SPIFFEID) (*types.Agent, error) {
		return cl.agents.GetAgent(ctx, &agentv1.GetAgentRequest{Id: id})
	}, printAgent)
}

func agentEvict(fs *flag.FlagSet) call {
	return agentByID(fs, "agent evict", func(ctx context.Context, cl *client, id *types.SPIFFEID) (*emptypb.Empty, error) {
		return cl.agents.DeleteAgent(ctx, &agentv1.DeleteAgentRequest{Id: id})
	}, func(w io.Writer, _ *emptypb.Empty) { fmt.Fprintln(w, "Agent evicted successfully") })
}

func agentBan(fs *flag.FlagSet) call {
	return agentByID(fs, "agent ban", func(ctx context.Context, cl *client, id *types.SPIFFEID) (*emptypb.Empty, error) {
		return cl.agents.BanAgent(ctx, &agentv1.BanAgentRequest{Id: id})
	}, func(w io.Writer, _ *emptypb.Empty) { fmt.Fprintln(w, "Agent banned successfully") })
}

func tokenGenerate(fs *flag.FlagSet) call {
	ttl := fs.Int("ttl", 600, "seconds the token stays valid")
	spiffeID := fs.String("spiffeID", "", "extra SPIFFE ID for the agent that attests with this token (optional)")
	req := &agentv1.CreateJoinTokenRequest{}
	return call{
		Check: func(*command.Env) (err error) {
			if *ttl <= 0 {
				return fmt.Errorf("-ttl must be a positive number of seconds, not %d", *ttl)
			}
			if req.Ttl, err = seconds("-ttl", *ttl); err != nil {
				return err
			}
			if *spiffeID != "" {
				req.AgentId, err = parseID("-spiffeID", *spiffeID)
			}
			return err
		},
		Do: command.Send("token generate", func(ctx context.Context, cl *client) (*types.JoinToken, error) {
			return cl.agents.CreateJoinToken(ctx, req)
		}, func(w io.Writer, token *types.JoinToken) { fmt.Fprintf(w, "Token: %s\n", token.Value) }),
	}
}
