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
		return validate(args[1:], stdout, stderr)
	}
	if len(args) > 0 && args[0] == "migrate-config" {
		return migrateConfig(args[1:], stdout, stderr)
	}
	return cli.Run(ctx, args, stdout, stderr)
}

// validate checks a configuration file without attesting or serving, as SPIRE's
// `spire-agent validate` does.
func validate(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("validate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", "", "path to the YAML configuration file (required)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	data, err := os.ReadFile(*configPath)
	if err != nil {
		fmt.Fprintln(stderr, "Error: reading -config:", err)
		return 1
	}
	if _, err := config.ParseWithOverrides(data); err != nil {
		fmt.Fprintln(stderr, "Error:", err)
		return 1
	}
	fmt.Fprintln(stdout, "Configuration is valid")
	return 0
}

func runAgent(ctx context.Context, args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", "", "path to the YAML configuration file")
	joinToken := fs.String("joinToken", "", "join token; overrides the config file")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	var docs [][]byte
	if *configPath != "" {
		data, err := os.ReadFile(*configPath)
		if err != nil {
			fmt.Fprintln(stderr, "Error: reading -config:", err)
			return 1
		}
		docs = append(docs, data)
	}
	if *joinToken != "" {
		docs = append(docs, []byte(fmt.Sprintf("join_token: %q\n", *joinToken)))
	}
	cfg, err := config.ParseWithOverrides(docs...)
	if err != nil {
		fmt.Fprintln(stderr, "Error:", err)
		return 1
	}
	log, levels := loglevel.NewLogger(cfg.LogLevel, cfg.LogFormat, stderr)
	// Every Workload API connection holds descriptors; the caps are sized to this limit.
	if n, err := fdlimit.Raise(); err != nil {
		log.Warn("could not raise the open file limit", "open_file_limit", n, "error", err)
	}
	if err := agent.Run(ctx, cfg, log, agent.WithLogLevels(levels)); err != nil {
		fmt.Fprintln(stderr, "Error:", err)
		return 1
	}
	return 0
}
