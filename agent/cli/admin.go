package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"time"

	debugv1 "github.com/spiffe/spire-api-sdk/proto/spire/api/agent/debug/v1"
	loggerv1 "github.com/spiffe/spire-api-sdk/proto/spire/api/agent/logger/v1"
	"github.com/spiffe/spire-api-sdk/proto/spire/api/types"
	"google.golang.org/grpc"

	"github.com/lanyard-dev/lanyard/internal/command"
	"github.com/lanyard-dev/lanyard/internal/loglevel"
)

// The commands on the agent's admin socket (admin_socket_path), as SPIRE's CLI has them
// for its server: logger get|set|reset and debug.

type adminCall = command.Call[*grpc.ClientConn]

func loggerGet(*flag.FlagSet) adminCall {
	return adminCall{Do: command.Send("logger get", func(ctx context.Context, conn *grpc.ClientConn) (*types.Logger, error) {
		return loggerv1.NewLoggerClient(conn).GetLogger(ctx, &loggerv1.GetLoggerRequest{})
	}, loglevel.Print)}
}

func loggerSet(fs *flag.FlagSet) adminCall {
	name := fs.String("level", "", "new level: trace, debug, info, warn, error, fatal or panic (required)")
	var level types.LogLevel
	return adminCall{
		Check: func(*command.Env) (err error) {
			if level, err = loglevel.Parse(*name); err != nil {
				return fmt.Errorf("-level: %w", err)
			}
			return nil
		},
		Do: command.Send("logger set", func(ctx context.Context, conn *grpc.ClientConn) (*types.Logger, error) {
			return loggerv1.NewLoggerClient(conn).SetLogLevel(ctx, &loggerv1.SetLogLevelRequest{NewLevel: level})
		}, loglevel.Print),
	}
}

func loggerReset(*flag.FlagSet) adminCall {
	return adminCall{Do: command.Send("logger reset", func(ctx context.Context, conn *grpc.ClientConn) (*types.Logger, error) {
		return loggerv1.NewLoggerClient(conn).ResetLogLevel(ctx, &loggerv1.ResetLogLevelRequest{})
	}, loglevel.Print)}
}

func debugInfo(*flag.FlagSet) adminCall {
	return adminCall{Do: command.Send("debug", func(ctx context.Context, conn *grpc.ClientConn) (*debugv1.GetInfoResponse, error) {
		return debugv1.NewDebugClient(conn).GetInfo(ctx, &debugv1.GetInfoRequest{})
	}, printInfo)}
}

func printInfo(w io.Writer, info *debugv1.GetInfoResponse) {
	fmt.Fprintf(w, "Uptime             : %s\n", time.Duration(info.Uptime)*time.Second)
	if info.LastSyncSuccess == 0 {
		fmt.Fprintf(w, "Last sync          : never since start\n")
	} else {
		fmt.Fprintf(w, "Last sync          : %s\n", time.Unix(info.LastSyncSuccess, 0).UTC().Format(time.RFC3339))
	}
	fmt.Fprintf(w, "Cached X.509-SVIDs : %d\nCached JWT-SVIDs   : %d\n", info.CachedX509SvidsCount, info.CachedJwtSvidsCount)
	for i, c := range info.SvidChain {
		var id string
		if c.Id != nil {
			id = "spiffe://" + c.Id.TrustDomain + c.Id.Path + " "
		}
		fmt.Fprintf(w, "SVID chain [%d]     : %s%s, expires %s\n", i, id, c.Subject, time.Unix(c.ExpiresAt, 0).UTC().Format(time.RFC3339))
	}
}
