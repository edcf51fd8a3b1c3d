package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	debugv1 "github.com/spiffe/spire-api-sdk/proto/spire/api/agent/debug/v1"
	loggerv1 "github.com/spiffe/spire-api-sdk/proto/spire/api/agent/logger/v1"
	"github.com/spiffe/spire-api-sdk/proto/spire/api/types"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	"github.com/lanyard-dev/lanyard/internal/adminclient"
	"github.com/lanyard-dev/lanyard/internal/loglevel"
)

// The commands on the agent's admin socket (admin_socket_path), as SPIRE's CLI has them
// for its server: logger get|set|reset and debug.

func loggerGet(ctx context.Context, args []string, stdout io.Writer) error {
	return adminCall(ctx, "logger get", args, stdout, nil, func(ctx context.Context, conn *grpc.ClientConn) (*types.Logger, error) {
		return loggerv1.NewLoggerClient(conn).GetLogger(ctx, &loggerv1.GetLoggerRequest{})
	}, loglevel.Print)
}

func loggerSet(ctx context.Context, args []string, stdout io.Writer) error {
	var name string
	flags := func(fs *flag.FlagSet) {
		fs.StringVar(&name, "level", "", "new level: trace, debug, info, warn, error, fatal or panic (required)")
	}
	return adminCall(ctx, "logger set", args, stdout, flags, func(ctx context.Context, conn *grpc.ClientConn) (*types.Logger, error) {
		level, err := loglevel.Parse(name)
		if err != nil {
			return nil, fmt.Errorf("-level: %w", err)
		}
		return loggerv1.NewLoggerClient(conn).SetLogLevel(ctx, &loggerv1.SetLogLevelRequest{NewLevel: level})
	}, loglevel.Print)
}

func loggerReset(ctx context.Context, args []string, stdout io.Writer) error {
	return adminCall(ctx, "logger reset", args, stdout, nil, func(ctx context.Context, conn *grpc.ClientConn) (*types.Logger, error) {
		return loggerv1.NewLoggerClient(conn).ResetLogLevel(ctx, &loggerv1.ResetLogLevelRequest{})
	}, loglevel.Print)
}

func debugInfo(ctx context.Context, args []string, stdout io.Writer) error {
	return adminCall(ctx, "debug", args, stdout, nil, func(ctx context.Context, conn *grpc.ClientConn) (*debugv1.GetInfoResponse, error) {
		return debugv1.NewDebugClient(conn).GetInfo(ctx, &debugv1.GetInfoRequest{})
	}, printInfo)
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

// adminCall is a command made of one call on the admin socket: its own flags (may be
// nil), the call, and the pretty output (-output json prints the response as it is).
func adminCall[T proto.Message](ctx context.Context, name string, args []string, stdout io.Writer, flags func(*flag.FlagSet),
	call func(context.Context, *grpc.ClientConn) (T, error), pretty func(io.Writer, T)) error {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	socket := fs.String("socketPath", "", "the agent's admin socket: its admin_socket_path (required)")
	output := fs.String("output", "pretty", "output format: pretty or json")
	if flags != nil {
		flags(fs)
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	switch {
	case fs.NArg() > 0:
		return fmt.Errorf("%s: unexpected argument %q", name, fs.Arg(0))
	case *socket == "":
		return errors.New(name + ": -socketPath is required: the agent's admin_socket_path (the admin socket is off unless that is set)")
	case *output != "pretty" && *output != "json":
		return fmt.Errorf("-output must be pretty or json, not %q", *output)
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	conn, err := adminclient.Dial(ctx, "agent", *socket)
	if err != nil {
		return err
	}
	defer conn.Close()
	resp, err := call(ctx, conn)
	if err != nil {
		return adminclient.CallError(name, err)
	}
	if *output == "json" {
		return adminclient.PrintJSON(stdout, resp)
	}
	pretty(stdout, resp)
	return nil
}
