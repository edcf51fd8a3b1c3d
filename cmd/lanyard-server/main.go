// Command lanyard-server runs the Lanyard server (`lanyard-server run -config FILE`)
// and is also the admin CLI that talks to a running server over its admin socket
// (`lanyard-server entry create ...`, `lanyard-server healthcheck`, ...).
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

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
		return validate(args[1:], stdout, stderr)
	}
	if len(args) > 0 && args[0] == "migrate-config" {
		return migrateConfig(args[1:], stdout, stderr)
	}
	return cli.Run(ctx, args, stdout, stderr)
}

// validate checks a configuration file without starting anything, as SPIRE's
// `spire-server validate` does.
func validate(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("validate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", "", "path to the YAML configuration file (required)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *configPath == "" {
		fmt.Fprintln(stderr, "Error: give -config FILE")
		return 1
	}
	if _, err := loadConfig(*configPath, "", ""); err != nil {
		fmt.Fprintln(stderr, "Error:", err)
		return 1
	}
	fmt.Fprintln(stdout, "Configuration is valid")
	return 0
}

func runServer(ctx context.Context, args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", "", "path to the YAML configuration file (required unless -trustDomain is given)")
	trustDomain := fs.String("trustDomain", "", "trust domain; overrides the config file")
	dataDir := fs.String("dataDir", "", "data directory; overrides the config file")
	forceNew := fs.Bool("forceNew", false, "start even though data_dir shows earlier state the datastore does not hold "+
		"(emptied, replaced or lost write-ahead log): begins a new CA; restoring a backup keeps the old one")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	cfg, err := loadConfig(*configPath, *trustDomain, *dataDir)
	if err != nil {
		fmt.Fprintln(stderr, "Error:", err)
		return 1
	}
	cfg.ForceNew = *forceNew
	log, levels := loglevel.NewLogger(cfg.LogLevel, cfg.LogFormat, stderr)
	raiseFDLimit(log)
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

func loadConfig(path, trustDomain, dataDir string) (config.Config, error) {
	var data []byte
	if path != "" {
		var err error
		if data, err = os.ReadFile(path); err != nil {
			return config.Config{}, fmt.Errorf("reading -config: %w", err)
		}
	} else if trustDomain == "" {
		return config.Config{}, fmt.Errorf("give -config FILE or at least -trustDomain NAME")
	}
	overrides := ""
	if trustDomain != "" {
		overrides += fmt.Sprintf("trust_domain: %q\n", trustDomain)
	}
	if dataDir != "" {
		overrides += fmt.Sprintf("data_dir: %q\n", dataDir)
	}
	return config.ParseWithOverrides(data, []byte(overrides))
}

// raiseFDLimit lets the server hold as many agent connections and files as the hard
// open file limit allows.
func raiseFDLimit(log *slog.Logger) {
	if n, err := fdlimit.Raise(); err != nil {
		log.Warn("could not raise the open file limit", "open_file_limit", n, "error", err)
	} else {
		log.Debug("open file limit", "open_file_limit", n)
	}
}
