// Package cli is lanyard-agent's command line besides `run`: Workload API helpers that
// fetch and validate SVIDs like a workload would (with the go-spiffe SDK), a health check,
// and the logger and debug commands of the agent's admin socket. The commands are a
// table in the one pattern both binaries share (internal/command).
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/spiffe/go-spiffe/v2/workloadapi"
	"google.golang.org/grpc"

	"github.com/lanyard-dev/lanyard/internal/adminclient"
	"github.com/lanyard-dev/lanyard/internal/command"
	"github.com/lanyard-dev/lanyard/internal/unixsock"
)

// table lists every command; the order is the order of the usage text.
var table = command.Table{
	Binary: "lanyard-agent",
	Outside: [][2]string{
		{"run", "Run the agent (-config FILE [-joinToken T])"},
		{"validate", "Check a configuration file (-config FILE) without starting"},
		{"migrate-config", "Print a SPIRE agent .conf file as Lanyard YAML"},
	},
	Commands: []command.Command{
		workloadAPI("api fetch x509", "Fetch this process's X.509-SVIDs and bundles (-write DIR: svid.0.pem, svid.0.key, bundle.0.pem)", fetchX509),
		workloadAPI("api fetch jwt", "Fetch a JWT-SVID (-audience A [-spiffeID ID])", fetchJWT),
		workloadAPI("api fetch wit", "Fetch a WIT-SVID and its private key (a JWK) ([-spiffeID ID])", fetchWIT),
		workloadAPI("api validate jwt", "Validate a JWT-SVID through the agent (-audience A -svid TOKEN)", validateJWT),
		workloadAPI("api watch", "Print every X.509 update the agent pushes ([-count N], or until interrupted)", watch),
		{Name: "healthcheck", Synopsis: "Check that the agent is healthy (its Workload API socket, -socketPath; or its health_address, -address)", Flags: healthcheck},
		admin("logger get", "Show the agent's current and launch log levels", loggerGet),
		admin("logger set", "Change the agent's log level until restart or reset (-level L)", loggerSet),
		admin("logger reset", "Return the agent's log level to the launch level", loggerReset),
		admin("debug", "Show uptime, last sync, cached SVIDs and the agent's SVID chain", debugInfo),
	},
	Footer: "The api commands use the Workload API socket (-socketPath, default " + defaultSocket + "); logger and debug\n" +
		"use the agent's admin socket (-socketPath, its admin_socket_path, off by default).",
}

// defaultSocket is where the agent serves the Workload API unless configured otherwise.
var defaultSocket = unixsock.ClientPath(unixsock.AgentAPI)

// Run runs one command and returns the process exit code: 0 on success, 1 on any error.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return table.Run(ctx, &command.Env{Stdin: os.Stdin, Stdout: stdout, Stderr: stderr}, args)
}

// workloadAPI is a row for a command on the Workload API, as a workload would call it.
func workloadAPI(name, synopsis string, flags func(fs *flag.FlagSet) command.Call[*workloadapi.Client]) command.Command {
	return command.Connected(name, synopsis, workloadSocket, flags)
}

func workloadSocket(fs *flag.FlagSet) func(context.Context) (*workloadapi.Client, func(), error) {
	socketPath := fs.String("socketPath", defaultSocket, "path to the agent's Workload API socket")
	return func(ctx context.Context) (*workloadapi.Client, func(), error) {
		if *socketPath == "" {
			return nil, nil, errors.New("-socketPath must not be empty")
		}
		c, err := workloadapi.New(ctx, workloadapi.WithAddr("unix://"+*socketPath))
		if err != nil {
			return nil, nil, fmt.Errorf("connecting to the Workload API at %s: %w", *socketPath, err)
		}
		return c, func() { _ = c.Close() }, nil
	}
}

// admin is a row for a command on the agent's admin socket.
func admin(name, synopsis string, flags func(fs *flag.FlagSet) command.Call[*grpc.ClientConn]) command.Command {
	return command.Connected(name, synopsis, adminSocket, flags)
}

func adminSocket(fs *flag.FlagSet) func(context.Context) (*grpc.ClientConn, func(), error) {
	socketPath := fs.String("socketPath", "", "the agent's admin socket: its admin_socket_path (required)")
	return func(ctx context.Context) (*grpc.ClientConn, func(), error) {
		if *socketPath == "" {
			return nil, nil, errors.New("-socketPath is required: the agent's admin_socket_path (the admin socket is off unless that is set)")
		}
		conn, err := adminclient.Dial(ctx, "agent", *socketPath)
		if err != nil {
			return nil, nil, err
		}
		return conn, func() { _ = conn.Close() }, nil
	}
}
