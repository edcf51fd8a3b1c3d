package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"time"

	debugv1 "github.com/spiffe/spire-api-sdk/proto/spire/api/server/debug/v1"
	loggerv1 "github.com/spiffe/spire-api-sdk/proto/spire/api/server/logger/v1"
	"github.com/spiffe/spire-api-sdk/proto/spire/api/types"

	"github.com/lanyard-dev/lanyard/internal/command"
	"github.com/lanyard-dev/lanyard/internal/loglevel"
)

func loggerGet(*flag.FlagSet) call {
	return call{Do: command.Send("logger get", func(ctx context.Context, cl *client) (*types.Logger, error) {
		return cl.logger.GetLogger(ctx, &loggerv1.GetLoggerRequest{})
	}, loglevel.Print)}
}

func loggerSet(fs *flag.FlagSet) call {
	name := fs.String("level", "", "new level: trace, debug, info, warn, error, fatal or panic (required)")
	var level types.LogLevel
	return call{
		Check: func(*command.Env) (err error) {
			if level, err = loglevel.Parse(*name); err != nil {
				return fmt.Errorf("-level: %w", err)
			}
			return nil
		},
		Do: command.Send("logger set", func(ctx context.Context, cl *client) (*types.Logger, error) {
			return cl.logger.SetLogLevel(ctx, &loggerv1.SetLogLevelRequest{NewLevel: level})
		}, loglevel.Print),
	}
}

func loggerReset(*flag.FlagSet) call {
	return call{Do: command.Send("logger reset", func(ctx context.Context, cl *client) (*types.Logger, error) {
		return cl.logger.ResetLogLevel(ctx, &loggerv1.ResetLogLevelRequest{})
	}, loglevel.Print)}
}

func debugInfo(*flag.FlagSet) call {
	return call{Do: command.Send("debug", func(ctx context.Context, cl *client) (*debugv1.GetInfoResponse, error) {
		return cl.debug.GetInfo(ctx, &debugv1.GetInfoRequest{})
	}, func(w io.Writer, info *debugv1.GetInfoResponse) {
		fmt.Fprintf(w, "Uptime            : %s\nAgents            : %d\nEntries           : %d\nFederated bundles : %d\n",
			time.Duration(info.Uptime)*time.Second, info.AgentsCount, info.EntriesCount, info.FederatedBundlesCount)
		for i, cert := range info.SvidChain {
			fmt.Fprintf(w, "SVID chain [%d]    : %s %s, expires %s\n", i, idString(cert.Id), cert.Subject,
				time.Unix(cert.ExpiresAt, 0).UTC().Format(time.RFC3339))
		}
	})}
}
