package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/lanyard-dev/lanyard/internal/unixsock"
)

// DefaultSocketPath is where lanyard-server listens for admin calls unless configured
// otherwise (the same default as the server config's admin_socket_path).
var DefaultSocketPath = unixsock.ClientPath(unixsock.ServerAdmin)

// maxBatchSize is how many items the CLI sends per Batch* call: the server takes any
// batch that fits a gRPC message, but a large -data file goes in several calls so each
// stays well under that limit and a failure names its part.
const maxBatchSize = 500

// binary is the name shown in usage text and hints.
const binary = "lanyard-server"

// errReported means the command already printed its own error lines (one per failed batch
// item); Run only has to exit non-zero.
var errReported = errors.New("errors already reported")

// errHelp is returned when the user asked for a command's usage with -h.
var errHelp = errors.New("help requested")

// env is what a command reads from and writes to; tests swap stdin.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
}

type command struct {
	name     string // e.g. "entry create"
	synopsis string
	run      func(ctx context.Context, e *env, args []string) error
}

// commands lists every subcommand; the order is the order of the usage text.
var commands = []command{
	{"entry create", "Create registration entries", entryCreate},
	{"entry show", "Show registration entries", entryShow},
	{"entry update", "Replace registration entries", entryUpdate},
	{"entry delete", "Delete registration entries", entryDelete},
	{"entry count", "Count registration entries", entryCount},
	{"agent list", "List attested agents", agentList},
	{"agent show", "Show one attested agent", agentShow},
	{"agent evict", "Delete an agent so it must attest again", agentEvict},
	{"agent ban", "Ban an agent so it can no longer attest or renew", agentBan},
	{"agent count", "Count attested agents", agentCount},
	{"token generate", "Generate a join token for an agent", tokenGenerate},
	{"bundle show", "Show the server's own trust bundle", bundleShow},
	{"bundle list", "List federated trust bundles", bundleList},
	{"bundle set", "Create or replace a federated trust bundle", bundleSet},
	{"bundle delete", "Delete a federated trust bundle", bundleDelete},
	{"bundle count", "Count trust bundles", bundleCount},
	{"federation create", "Create a federation relationship with another trust domain", federationCreate},
	{"federation list", "List federation relationships", federationList},
	{"federation show", "Show one federation relationship", federationShow},
	{"federation update", "Replace a federation relationship", federationUpdate},
	{"federation delete", "Delete a federation relationship and its bundle", federationDelete},
	{"federation refresh", "Fetch a federated trust domain's bundle now", federationRefresh},
	{"x509 mint", "Mint an X.509-SVID (key made here, never sent)", x509Mint},
	{"jwt mint", "Mint a JWT-SVID", jwtMint},
	{"healthcheck", "Check that the server is healthy", healthcheck},
	{"logger get", "Show the server's current and launch log levels", loggerGet},
	{"logger set", "Change the server's log level until restart or reset", loggerSet},
	{"logger reset", "Return the server's log level to the launch level", loggerReset},
	{"localauthority x509 show", "Show the active, prepared and old X.509 authorities", x509Show},
	{"localauthority x509 prepare", "Create a new X.509 authority and add it to the bundle (not signing yet)", x509Prepare},
	{"localauthority x509 activate", "Sign with the prepared X.509 authority from now on (-authorityID)", x509Activate},
	{"localauthority x509 taint", "Mark the old X.509 authority tainted: agents replace what it signed (-authorityID)", x509Taint},
	{"localauthority x509 revoke", "Remove the tainted X.509 authority from the bundle (-authorityID)", x509Revoke},
	{"localauthority jwt show", "Show the active, prepared and old JWT authorities", jwtShow},
	{"localauthority jwt prepare", "Create a new JWT key and add it to the bundle (not signing yet)", jwtPrepare},
	{"localauthority jwt activate", "Sign with the prepared JWT key from now on (-authorityID)", jwtActivate},
	{"localauthority jwt taint", "Mark the old JWT key tainted: agents drop tokens it signed (-authorityID)", jwtTaint},
	{"localauthority jwt revoke", "Remove the tainted JWT key from the bundle (-authorityID)", jwtRevoke},
	{"upstreamauthority taint", "Mark an upstream X.509 authority tainted (-subjectKeyID)", upstreamTaint},
	{"upstreamauthority revoke", "Remove a tainted upstream X.509 authority from the bundle (-subjectKeyID)", upstreamRevoke},
	{"debug", "Show uptime, counts of agents, entries and bundles, and the server's SVID chain", debugInfo},
}

// Run executes one admin subcommand (everything except `run`) and returns the process exit
// code: 0 on success, 1 on any error. Errors are printed to stderr as a single line each.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return run(ctx, &env{stdin: os.Stdin, stdout: stdout, stderr: stderr}, args)
}

func run(ctx context.Context, e *env, args []string) int {
	if len(args) == 0 {
		printUsage(e.stderr)
		return 1
	}
	switch args[0] {
	case "help", "-h", "-help", "--help":
		printUsage(e.stdout)
		return 0
	}
	cmd, rest, ok := lookup(args)
	if !ok {
		fmt.Fprintf(e.stderr, "Error: unknown command %q\n", strings.Join(args[:min(2, len(args))], " "))
		printUsage(e.stderr)
		return 1
	}
	err := cmd.run(ctx, e, rest)
	switch {
	case err == nil:
		return 0
	case errors.Is(err, errHelp):
		return 0
	case errors.Is(err, errReported):
		return 1
	default:
		fmt.Fprintf(e.stderr, "Error: %s\n", oneLine(err.Error()))
		return 1
	}
}

// lookup finds the command named by the first one or two words of args.
func lookup(args []string) (command, []string, bool) {
	for _, c := range commands {
		words := strings.Fields(c.name)
		if len(args) >= len(words) && strings.Join(args[:len(words)], " ") == c.name {
			return c, args[len(words):], true
		}
	}
	return command{}, nil, false
}

func printUsage(w io.Writer) {
	fmt.Fprintf(w, "Usage: %s <command> [flags]\n\nCommands:\n", binary)
	fmt.Fprintf(w, "  %-28s %s\n", "run", "Run the server (-config FILE)")
	fmt.Fprintf(w, "  %-28s %s\n", "validate", "Check a configuration file (-config FILE) without starting")
	fmt.Fprintf(w, "  %-28s %s\n", "datastore backup", "Copy the SQLite datastore, also while the server runs (-config FILE BACKUP)")
	fmt.Fprintf(w, "  %-28s %s\n", "datastore restore", "Replace the SQLite datastore with a backup; server stopped (-config FILE BACKUP)")
	fmt.Fprintf(w, "  %-28s %s\n", "migrate-config", "Print a SPIRE server .conf file as Lanyard YAML")
	for _, c := range commands {
		fmt.Fprintf(w, "  %-28s %s\n", c.name, c.synopsis)
	}
	fmt.Fprintf(w, "\nRun '%s <command> -h' for the flags of a command.\n", binary)
}

// oneLine keeps an error on a single line: a multi-line message would break scripts that
// read the first line of stderr.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// stringList is a repeatable string flag.
type stringList []string

func (l *stringList) String() string { return strings.Join(*l, ",") }

func (l *stringList) Set(v string) error {
	*l = append(*l, v)
	return nil
}

// common holds the flags every subcommand has.
type common struct {
	socketPath string
	output     string
}

// newFlags makes the flag set of one command with the common flags already registered.
func newFlags(name string) (*flag.FlagSet, *common) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	c := &common{}
	fs.StringVar(&c.socketPath, "socketPath", DefaultSocketPath, "path to the server's admin unix socket")
	fs.StringVar(&c.output, "output", "pretty", "output format: pretty or json")
	return fs, c
}

// parse parses args into fs. Errors carry the command name and a hint; -h prints the
// command's flags to stdout and returns errHelp.
func parse(e *env, fs *flag.FlagSet, c *common, args []string) error {
	fs.SetOutput(io.Discard) // the flag package's multi-line messages are replaced by ours
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprintf(e.stdout, "Usage: %s %s [flags]\n\nFlags:\n", binary, fs.Name())
			fs.SetOutput(e.stdout)
			fs.PrintDefaults()
			return errHelp
		}
		return fmt.Errorf("%s: %w (run '%s %s -h' for usage)", fs.Name(), err, binary, fs.Name())
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%s: unexpected argument %q: every value is given with a flag, e.g. -spiffeID", fs.Name(), fs.Arg(0))
	}
	switch c.output {
	case "pretty", "human":
		c.output = "pretty"
	case "json":
	default:
		return fmt.Errorf("-output must be pretty or json, not %q", c.output)
	}
	if c.socketPath == "" {
		return errors.New("-socketPath must not be empty")
	}
	return nil
}

// setFlags returns the names of the flags given on the command line.
func setFlags(fs *flag.FlagSet) map[string]bool {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	return set
}

// onlyFlags reports the first given flag outside allowed, in a stable order.
func onlyFlags(fs *flag.FlagSet, allowed ...string) (string, bool) {
	ok := map[string]bool{"socketPath": true, "output": true}
	for _, a := range allowed {
		ok[a] = true
	}
	var extra []string
	for name := range setFlags(fs) {
		if !ok[name] {
			extra = append(extra, name)
		}
	}
	if len(extra) == 0 {
		return "", true
	}
	sort.Strings(extra)
	return extra[0], false
}

// readInput reads a file named by a flag; "-" means standard input.
func readInput(e *env, flagName, path string) ([]byte, error) {
	if path == "-" {
		data, err := io.ReadAll(e.stdin)
		if err != nil {
			return nil, fmt.Errorf("reading %s from standard input: %w", flagName, err)
		}
		return data, nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", flagName, err)
	}
	return data, nil
}
