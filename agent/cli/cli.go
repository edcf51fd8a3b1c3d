// Package cli is lanyard-agent's command line besides `run`: Workload API helpers that
// fetch and validate SVIDs like a workload would (with the go-spiffe SDK), a health check,
// and the logger and debug commands of the agent's admin socket.
package cli

import (
	"context"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/lanyard-dev/lanyard/internal/unixsock"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/svid/jwtsvid"
	"github.com/spiffe/go-spiffe/v2/workloadapi"
)

const usage = `Usage: lanyard-agent <command> [flags]

Commands:
  run -config FILE [-joinToken T]          run the agent
  validate -config FILE                    check a configuration file without starting
  migrate-config SPIRE_AGENT_CONF          print a SPIRE agent .conf file as Lanyard YAML
  api fetch x509 [-socketPath P] [-write DIR]
                                           fetch this process's X.509-SVIDs (and write svid.0.pem, svid.0.key, bundle.0.pem)
  api fetch jwt -audience A [-spiffeID ID] [-socketPath P]
                                           fetch a JWT-SVID
  api watch [-socketPath P] [-count N]     print every X.509 update the agent pushes (N updates, or until interrupted)
  api validate jwt -audience A -svid TOKEN [-socketPath P]
                                           validate a JWT-SVID through the agent
  healthcheck [-address HOST:PORT]         exit 0 when the agent is ready
  logger get -socketPath ADMIN_SOCK        show the agent's current and launch log levels
  logger set -level L -socketPath ADMIN_SOCK
                                           change the agent's log level until restart or reset
  logger reset -socketPath ADMIN_SOCK      return the agent's log level to the launch level
  debug -socketPath ADMIN_SOCK             show uptime, last sync, cached SVIDs and the agent's SVID chain

The logger and debug commands use the agent's admin socket (admin_socket_path, off by
default) and take -output json.
`

var defaultSocket = unixsock.ClientPath(unixsock.AgentAPI)

// Run runs one command and returns the process exit code.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	err := dispatch(ctx, args, stdout)
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		fmt.Fprint(stderr, usage)
		return 0
	case errors.Is(err, errUsage):
		fmt.Fprint(stderr, usage)
		return 1
	}
	fmt.Fprintln(stderr, "Error:", err)
	return 1
}

var errUsage = errors.New("usage")

func dispatch(ctx context.Context, args []string, stdout io.Writer) error {
	switch strings.Join(first(args, 3), " ") {
	case "api fetch x509":
		return fetchX509(ctx, args[3:], stdout)
	case "api fetch jwt":
		return fetchJWT(ctx, args[3:], stdout)
	case "api validate jwt":
		return validateJWT(ctx, args[3:], stdout)
	}
	if strings.Join(first(args, 2), " ") == "api watch" {
		return watch(ctx, args[2:], stdout)
	}
	switch strings.Join(first(args, 2), " ") {
	case "logger get":
		return loggerGet(ctx, args[2:], stdout)
	case "logger set":
		return loggerSet(ctx, args[2:], stdout)
	case "logger reset":
		return loggerReset(ctx, args[2:], stdout)
	}
	if len(args) > 0 && args[0] == "debug" {
		return debugInfo(ctx, args[1:], stdout)
	}
	if len(args) > 0 && args[0] == "healthcheck" {
		return healthcheck(ctx, args[1:], stdout)
	}
	if len(args) > 0 && (args[0] == "help" || args[0] == "-h" || args[0] == "--help") {
		return flag.ErrHelp
	}
	return errUsage
}

func first(args []string, n int) []string {
	if len(args) < n {
		return args
	}
	return args[:n]
}

func flags(name string) (*flag.FlagSet, *string) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	sock := fs.String("socketPath", defaultSocket, "Workload API socket path")
	return fs, sock
}

func client(ctx context.Context, socket string) (*workloadapi.Client, error) {
	c, err := workloadapi.New(ctx, workloadapi.WithAddr("unix://"+socket))
	if err != nil {
		return nil, fmt.Errorf("connecting to the Workload API at %s: %w", socket, err)
	}
	return c, nil
}

func fetchX509(ctx context.Context, args []string, stdout io.Writer) error {
	fs, sock := flags("api fetch x509")
	write := fs.String("write", "", "directory to write the SVIDs, keys and bundle to (PEM, keys 0600)")
	timeout := fs.Duration("timeout", 10*time.Second, "how long to wait for an SVID")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	c, err := client(ctx, *sock)
	if err != nil {
		return err
	}
	defer c.Close()
	x, err := c.FetchX509Context(ctx)
	if err != nil {
		return fmt.Errorf("fetching X.509-SVIDs: %w", err)
	}
	for i, s := range x.SVIDs {
		fmt.Fprintf(stdout, "SPIFFE ID:  %s\nHint:       %s\nExpires at: %s\n", s.ID, s.Hint, s.Certificates[0].NotAfter.UTC().Format(time.RFC3339))
		if *write != "" {
			certs, key, err := s.Marshal()
			if err != nil {
				return err
			}
			if err := writeFile(*write, fmt.Sprintf("svid.%d.pem", i), certs, 0o644); err != nil {
				return err
			}
			if err := writeFile(*write, fmt.Sprintf("svid.%d.key", i), key, 0o600); err != nil {
				return err
			}
		}
	}
	if *write != "" {
		for i, b := range x.Bundles.Bundles() {
			var out []byte
			for _, c := range b.X509Authorities() {
				out = append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
			}
			if err := writeFile(*write, fmt.Sprintf("bundle.%d.pem", i), out, 0o644); err != nil {
				return err
			}
		}
	}
	fmt.Fprintf(stdout, "Received %d SVID(s) and %d bundle(s)\n", len(x.SVIDs), len(x.Bundles.Bundles()))
	return nil
}

func fetchJWT(ctx context.Context, args []string, stdout io.Writer) error {
	fs, sock := flags("api fetch jwt")
	audience := fs.String("audience", "", "audience of the JWT-SVID (required)")
	id := fs.String("spiffeID", "", "which of this workload's SPIFFE IDs (default: the first)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *audience == "" {
		return errors.New("-audience is required")
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	c, err := client(ctx, *sock)
	if err != nil {
		return err
	}
	defer c.Close()
	params := jwtsvid.Params{Audience: *audience}
	if *id != "" {
		sid, err := parseID(*id)
		if err != nil {
			return err
		}
		params.Subject = sid
	}
	svid, err := c.FetchJWTSVID(ctx, params)
	if err != nil {
		return fmt.Errorf("fetching JWT-SVID: %w", err)
	}
	fmt.Fprintln(stdout, svid.Marshal())
	return nil
}

func validateJWT(ctx context.Context, args []string, stdout io.Writer) error {
	fs, sock := flags("api validate jwt")
	audience := fs.String("audience", "", "expected audience (required)")
	token := fs.String("svid", "", "the JWT-SVID to validate (required)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *audience == "" || *token == "" {
		return errors.New("-audience and -svid are required")
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	c, err := client(ctx, *sock)
	if err != nil {
		return err
	}
	defer c.Close()
	svid, err := c.ValidateJWTSVID(ctx, *token, *audience)
	if err != nil {
		return fmt.Errorf("JWT-SVID is not valid: %w", err)
	}
	fmt.Fprintf(stdout, "SVID is valid.\nSPIFFE ID: %s\n", svid.ID)
	return nil
}

func healthcheck(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("healthcheck", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	addr := fs.String("address", "127.0.0.1:8083", "the agent's health_address")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+*addr+"/readyz", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("agent health endpoint %s unreachable: is lanyard-agent running? %w", *addr, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("agent is not ready: %s", strings.TrimSpace(string(body)))
	}
	fmt.Fprintln(stdout, "Agent is healthy.")
	return nil
}

func writeFile(dir, name string, data []byte, mode os.FileMode) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, data, mode); err != nil {
		return err
	}
	return os.Chmod(path, mode)
}

func parseID(s string) (spiffeid.ID, error) {
	id, err := spiffeid.FromString(s)
	if err != nil {
		return spiffeid.ID{}, fmt.Errorf("-spiffeID %q: %w", s, err)
	}
	return id, nil
}
