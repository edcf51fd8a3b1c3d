// Command lanyard-server runs the Lanyard server (`lanyard-server run -config FILE`)
// and is also the admin CLI that talks to a running server over its admin socket
// (`lanyard-server entry create ...`, `lanyard-server healthcheck`, ...).
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
	"github.com/lanyard-dev/lanyard/server"
	"github.com/lanyard-dev/lanyard/server/cli"
	"github.com/lanyard-dev/lanyard/server/config"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "run" {
		return runServer(ctx, args[1:], stderr)
	}
	if len(args) > 0 && args[0] == "datastore" {
		return datastoreCommand(ctx, args[1:], stdout, stderr)
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
// spire-server names them.
var settings = []command.Setting{
	{Flag: "trustDomain", Key: "trust_domain", Usage: "trust domain"},
	{Flag: "dataDir", Key: "data_dir", Usage: "data directory"},
	{Flag: "bindAddress", Key: "bind_address", Usage: "IP address agents connect to"},
	{Flag: "serverPort", Key: "bind_port", Usage: "port agents connect to", Number: true},
	{Flag: "socketPath", Key: "admin_socket_path", Usage: "admin socket path"},
}

func runServer(ctx context.Context, args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cf := command.NewConfigFlags(fs, settings...)
	forceNew := fs.Bool("forceNew", false, "start even though data_dir shows earlier state the datastore does not hold "+
		"(emptied, replaced or lost write-ahead log): begins a new CA; restoring a backup keeps the old one")
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
	cfg.ForceNew = *forceNew
	log, levels := loglevel.NewLogger(cfg.LogLevel, cfg.LogFormat, stderr)
	// Every agent connection holds a descriptor.
	fdlimit.RaiseAndLog(log)
	srv, err := server.Start(ctx, cfg, log, server.WithLogLevels(levels))
	if err != nil {
		fmt.Fprintln(stderr, "Error:", err)
		return 1
	}
	<-ctx.Done()
	if err := srv.Wait(); err != nil {
		fmt.Fprintln(stderr, "Error:", err)
		return 1
	}
	return 0
}
