// Command lanyard-agent runs the Lanyard agent (`lanyard-agent run -config FILE`),
// offers workload-side helpers against a Workload API socket (`lanyard-agent api fetch`)
// and operator commands against the agent's admin socket (`lanyard-agent logger|debug`).
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/lanyard-dev/lanyard/internal/command"
	"github.com/lanyard-dev/lanyard/internal/fdlimit"
	"github.com/lanyard-dev/lanyard/internal/loglevel"

	"github.com/lanyard-dev/lanyard/agent"
	"github.com/lanyard-dev/lanyard/agent/cli"
	"github.com/lanyard-dev/lanyard/agent/config"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "run" {
		return runAgent(ctx, args[1:], stderr)
	}
	if len(args) > 0 && args[0] == "validate" {
		return command.Validate(args[1:], stdout, stderr, config.Parse, settings...)
	}
	if len(args) > 0 && args[0] == "migrate-config" {
		return migrateConfig(args[1:], stdout, stderr)
	}
	return cli.Run(ctx, args, stdout, stderr)
}

// settings are the `run` and `validate` flags that override one setting of the file, as
// spire-agent names them.
var settings = []command.Setting{
	{Flag: "trustDomain", Key: "trust_domain", Usage: "trust domain"},
	{Flag: "dataDir", Key: "data_dir", Usage: "data directory"},
	{Flag: "joinToken", Key: "join_token", Usage: "join token"},
	{Flag: "serverAddress", Key: "server_address", Usage: "address of lanyard-server"},
	{Flag: "serverPort", Key: "server_port", Usage: "port of lanyard-server", Number: true},
	{Flag: "socketPath", Key: "socket_path", Usage: "Workload API socket path"},
	{Flag: "trustBundle", Key: "trust_bundle_path", Usage: "path to the bootstrap trust bundle"},
}

func runAgent(ctx context.Context, args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cf := command.NewConfigFlags(fs, settings...)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	docs, err := cf.Docs()
	if err != nil {
		fmt.Fprintln(stderr, "Error:", err)
		return 1
	}
	cfg, err := config.Parse(docs...)
	if err != nil {
		fmt.Fprintln(stderr, "Error:", err)
		return 1
	}
	log, levels := loglevel.NewLogger(cfg.LogLevel, cfg.LogFormat, stderr)
	// Every Workload API connection holds descriptors; the caps are sized to this limit.
	fdlimit.RaiseAndLog(log)
	if err := agent.Run(ctx, cfg, log, agent.WithLogLevels(levels)); err != nil {
		fmt.Fprintln(stderr, "Error:", err)
		return 1
	}
	return 0
}
