package cli

import (
	"context"
	"flag"
	"fmt"
	"time"

	debugv1 "github.com/spiffe/spire-api-sdk/proto/spire/api/server/debug/v1"
	loggerv1 "github.com/spiffe/spire-api-sdk/proto/spire/api/server/logger/v1"
	"github.com/spiffe/spire-api-sdk/proto/spire/api/types"
	"google.golang.org/protobuf/proto"

	"github.com/lanyard-dev/lanyard/internal/loglevel"
)

func loggerGet(ctx context.Context, e *env, args []string) error {
	return oneCall(ctx, e, "logger get", args, nil, func(ctx context.Context, cl *client) (*types.Logger, error) {
		return cl.logger.GetLogger(ctx, &loggerv1.GetLoggerRequest{})
	}, printLevels)
}

func loggerSet(ctx context.Context, e *env, args []string) error {
	var name string
	flags := func(fs *flag.FlagSet) {
		fs.StringVar(&name, "level", "", "new level: trace, debug, info, warn, error, fatal or panic (required)")
	}
	return oneCall(ctx, e, "logger set", args, flags, func(ctx context.Context, cl *client) (*types.Logger, error) {
		level, err := loglevel.Parse(name)
		if err != nil {
			return nil, fmt.Errorf("-level: %w", err)
		}
		return cl.logger.SetLogLevel(ctx, &loggerv1.SetLogLevelRequest{NewLevel: level})
	}, printLevels)
}

func loggerReset(ctx context.Context, e *env, args []string) error {
	return oneCall(ctx, e, "logger reset", args, nil, func(ctx context.Context, cl *client) (*types.Logger, error) {
		return cl.logger.ResetLogLevel(ctx, &loggerv1.ResetLogLevelRequest{})
	}, printLevels)
}

func printLevels(e *env, l *types.Logger) { loglevel.Print(e.stdout, l) }

func debugInfo(ctx context.Context, e *env, args []string) error {
	return oneCall(ctx, e, "debug", args, nil, func(ctx context.Context, cl *client) (*debugv1.GetInfoResponse, error) {
		return cl.debug.GetInfo(ctx, &debugv1.GetInfoRequest{})
	}, func(e *env, info *debugv1.GetInfoResponse) {
		fmt.Fprintf(e.stdout, "Uptime            : %s\nAgents            : %d\nEntries           : %d\nFederated bundles : %d\n",
			time.Duration(info.Uptime)*time.Second, info.AgentsCount, info.EntriesCount, info.FederatedBundlesCount)
		for i, cert := range info.SvidChain {
			fmt.Fprintf(e.stdout, "SVID chain [%d]    : %s %s, expires %s\n", i, idString(cert.Id), cert.Subject,
				time.Unix(cert.ExpiresAt, 0).UTC().Format(time.RFC3339))
		}
	})
}

// oneCall is a command made of one call: its own flags (may be nil), the call, and the
// pretty output (-output json prints the response as it is).
func oneCall[T proto.Message](ctx context.Context, e *env, name string, args []string, flags func(*flag.FlagSet),
	call func(context.Context, *client) (T, error), pretty func(*env, T)) error {
	fs, c := newFlags(name)
	if flags != nil {
		flags(fs)
	}
	if err := parse(e, fs, c, args); err != nil {
		return err
	}
	cl, err := dial(ctx, c.socketPath)
	if err != nil {
		return err
	}
	defer cl.Close()
	resp, err := call(ctx, cl)
	if err != nil {
		return rpcError(name, err)
	}
	if c.output == "json" {
		return printJSON(e, resp)
	}
	pretty(e, resp)
	return nil
}
