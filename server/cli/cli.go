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

	"google.golang.org/protobuf/proto"

	"github.com/lanyard-dev/lanyard/internal/command"
	"github.com/lanyard-dev/lanyard/internal/unixsock"
)

// DefaultSocketPath is where lanyard-server listens for admin calls unless configured
// otherwise (the same default as the server config's admin_socket_path).
var DefaultSocketPath = unixsock.ClientPath(unixsock.ServerAdmin)

// maxBatchSize is how many items the CLI sends per Batch* call: the server takes any
// batch that fits a gRPC message, but a large -data file goes in several calls so each
// stays well under that limit and a failure names its part.
const maxBatchSize = 500

// table lists every admin command; the order is the order of the usage text.
var table = command.Table{
	Binary: "lanyard-server",
	Outside: [][2]string{
		{"run", "Run the server (-config FILE)"},
		{"validate", "Check a configuration file (-config FILE) without starting"},
		{"datastore backup", "Copy the SQLite datastore, also while the server runs (-config FILE BACKUP)"},
		{"datastore restore", "Replace the SQLite datastore with a backup; server stopped (-config FILE BACKUP)"},
		{"migrate-config", "Print a SPIRE server .conf file as Lanyard YAML"},
	},
	Commands: []command.Command{
		admin("entry create", "Create registration entries", entryCreate),
		admin("entry show", "Show registration entries", entryShow),
		admin("entry update", "Replace registration entries", entryUpdate),
		admin("entry delete", "Delete registration entries", entryDelete),
		admin("entry count", "Count registration entries", entryCount),
		admin("agent list", "List attested agents", agentList),
		admin("agent show", "Show one attested agent", agentShow),
		admin("agent evict", "Delete an agent so it must attest again", agentEvict),
		admin("agent ban", "Ban an agent so it can no longer attest or renew", agentBan),
		admin("agent count", "Count attested agents", agentCount),
		admin("token generate", "Generate a join token for an agent", tokenGenerate),
		admin("bundle show", "Show the server's own trust bundle", bundleShow),
		admin("bundle list", "List federated trust bundles", bundleList),
		admin("bundle set", "Create or replace a federated trust bundle", bundleSet),
		admin("bundle delete", "Delete a federated trust bundle", bundleDelete),
		admin("bundle count", "Count trust bundles", bundleCount),
		admin("federation create", "Create a federation relationship with another trust domain", federationCreate),
		admin("federation list", "List federation relationships", federationList),
		admin("federation show", "Show one federation relationship", federationShow),
		admin("federation update", "Replace a federation relationship", federationUpdate),
		admin("federation delete", "Delete a federation relationship and its bundle", federationDelete),
		admin("federation refresh", "Fetch a federated trust domain's bundle now", federationRefresh),
		admin("x509 mint", "Mint an X.509-SVID (key made here, never sent)", x509Mint),
		admin("jwt mint", "Mint a JWT-SVID", jwtMint),
		admin("wit mint", "Mint a WIT-SVID (key made here, never sent)", witMint),
		admin("healthcheck", "Check that the server is healthy", healthcheck),
		admin("logger get", "Show the server's current and launch log levels", loggerGet),
		admin("logger set", "Change the server's log level until restart or reset", loggerSet),
		admin("logger reset", "Return the server's log level to the launch level", loggerReset),
		admin("localauthority x509 show", "Show the active, prepared and old X.509 authorities", x509Show),
		admin("localauthority x509 prepare", "Create a new X.509 authority and add it to the bundle (not signing yet)", x509Prepare),
		admin("localauthority x509 activate", "Sign with the prepared X.509 authority from now on (-authorityID)", x509Activate),
		admin("localauthority x509 taint", "Mark the old X.509 authority tainted: agents replace what it signed (-authorityID)", x509Taint),
		admin("localauthority x509 revoke", "Remove the tainted X.509 authority from the bundle (-authorityID)", x509Revoke),
		admin("localauthority jwt show", "Show the active, prepared and old JWT authorities", jwtShow),
		admin("localauthority jwt prepare", "Create a new JWT key and add it to the bundle (not signing yet)", jwtPrepare),
		admin("localauthority jwt activate", "Sign with the prepared JWT key from now on (-authorityID)", jwtActivate),
		admin("localauthority jwt taint", "Mark the old JWT key tainted: agents drop tokens it signed (-authorityID)", jwtTaint),
		admin("localauthority jwt revoke", "Remove the tainted JWT key from the bundle (-authorityID)", jwtRevoke),
		admin("localauthority wit show", "Show the active, prepared and old WIT authorities", witShow),
		admin("localauthority wit prepare", "Create a new WIT key and add it to the bundle (not signing yet)", witPrepare),
		admin("localauthority wit activate", "Sign WIT-SVIDs with the prepared WIT key from now on (-authorityID)", witActivate),
		admin("localauthority wit taint", "Mark the old WIT key tainted: agents replace what it signed (-authorityID)", witTaint),
		admin("localauthority wit revoke", "Remove the tainted WIT key from the bundle (-authorityID)", witRevoke),
		admin("upstreamauthority taint", "Mark an upstream X.509 authority tainted (-subjectKeyID)", upstreamTaint),
		admin("upstreamauthority revoke", "Remove a tainted upstream X.509 authority from the bundle (-subjectKeyID)", upstreamRevoke),
		admin("debug", "Show uptime, counts of agents, entries and bundles, and the server's SVID chain", debugInfo),
	},
}

// Run executes one admin subcommand (everything except `run`, `validate`, `datastore`
// and `migrate-config`) and returns the process exit code: 0 on success, 1 on any error.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return table.Run(ctx, &command.Env{Stdin: os.Stdin, Stdout: stdout, Stderr: stderr}, args)
}

// call is an admin command once its flags are parsed.
type call = command.Call[*client]

// admin is a row of the table for a command on the admin socket.
func admin(name, synopsis string, flags func(fs *flag.FlagSet) call) command.Command {
	return command.Connected(name, synopsis, adminSocket, flags)
}

// adminSocket registers -socketPath and dials the admin socket there.
func adminSocket(fs *flag.FlagSet) func(context.Context) (*client, func(), error) {
	socketPath := fs.String("socketPath", DefaultSocketPath, "path to the server's admin unix socket")
	return func(ctx context.Context) (*client, func(), error) {
		if *socketPath == "" {
			return nil, nil, errors.New("-socketPath must not be empty")
		}
		cl, err := dial(ctx, *socketPath)
		if err != nil {
			return nil, nil, err
		}
		return cl, cl.Close, nil
	}
}

// stringList is a repeatable string flag.
type stringList []string

func (l *stringList) String() string { return strings.Join(*l, ",") }

func (l *stringList) Set(v string) error {
	*l = append(*l, v)
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
func readInput(e *command.Env, flagName, path string) ([]byte, error) {
	if path == "-" {
		data, err := io.ReadAll(e.Stdin)
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

// jsonOf is the -output json form of one answer.
func jsonOf(msg proto.Message) []proto.Message { return []proto.Message{msg} }
