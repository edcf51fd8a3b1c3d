package command

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// Env is what a command reads from and writes to.
type Env struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	// JSON is set when the command was given -output json.
	JSON bool
}

// Command is one row of a binary's command table.
type Command struct {
	Name     string // the words that select it, e.g. "entry create"
	Synopsis string // one line in the usage text
	// Flags registers the command's own flags on fs (-output is already there) and returns
	// the function to run once they are parsed.
	Flags func(fs *flag.FlagSet) Run
}

// Run does the command's work. What it returns is printed before its error, so a
// command that partly failed still shows what it did.
type Run func(ctx context.Context, e *Env) (*Output, error)

// Output is what a command prints: Text with -output pretty, the protojson of JSON with
// -output json (one message as an object, several as an array, nothing when empty).
type Output struct {
	JSON []proto.Message
	Text func(w io.Writer) error
}

// Print is an Output of one response and its text form.
func Print(msg proto.Message, text func(w io.Writer)) *Output {
	return &Output{JSON: []proto.Message{msg}, Text: func(w io.Writer) error { text(w); return nil }}
}

// ErrReported means the command already printed its own error lines (one per failed
// item of a batch); the runner only exits 1.
var ErrReported = errors.New("errors already reported")

// Table is the command line of one binary.
type Table struct {
	Binary string
	// Outside lists commands the binary's main handles before the table, as
	// {name, synopsis} pairs for the usage text (e.g. run, validate).
	Outside  [][2]string
	Commands []Command
	// Footer is printed after the command list in the usage text.
	Footer string
}

// Run executes the command args name and returns the process exit code: 0 on success,
// 1 on any error, printed to stderr as one line starting "Error: ".
func (t Table) Run(ctx context.Context, e *Env, args []string) int {
	if len(args) == 0 {
		fmt.Fprintf(e.Stderr, "Error: no command given: name one of the commands below\n")
		t.Usage(e.Stderr)
		return 1
	}
	switch args[0] {
	case "help", "-h", "-help", "--help":
		t.Usage(e.Stdout)
		return 0
	}
	cmd, rest, ok := t.lookup(args)
	if !ok {
		fmt.Fprintf(e.Stderr, "Error: unknown command %q: use one of the commands below\n", strings.Join(args[:min(2, len(args))], " "))
		t.Usage(e.Stderr)
		return 1
	}
	out, err := t.run(ctx, e, cmd, rest)
	if out != nil {
		if perr := e.print(out); perr != nil && err == nil {
			err = perr
		}
	}
	switch {
	case err == nil, errors.Is(err, errHelp):
		return 0
	case errors.Is(err, ErrReported):
		return 1
	}
	fmt.Fprintf(e.Stderr, "Error: %s\n", OneLine(err.Error()))
	return 1
}

// errHelp is returned when -h printed a command's flags.
var errHelp = errors.New("help requested")

func (t Table) run(ctx context.Context, e *Env, cmd Command, args []string) (*Output, error) {
	fs := flag.NewFlagSet(cmd.Name, flag.ContinueOnError)
	fs.SetOutput(io.Discard) // the flag package's multi-line messages are replaced by ours
	output := fs.String("output", "pretty", "output format: pretty or json")
	run := cmd.Flags(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprintf(e.Stdout, "Usage: %s %s [flags]\n\n%s\n\nFlags:\n", t.Binary, cmd.Name, cmd.Synopsis)
			fs.SetOutput(e.Stdout)
			fs.PrintDefaults()
			return nil, errHelp
		}
		return nil, fmt.Errorf("%s: %w (run '%s %s -h' for usage)", cmd.Name, err, t.Binary, cmd.Name)
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("%s: unexpected argument %q: every value is given with a flag (run '%s %s -h' for usage)",
			cmd.Name, fs.Arg(0), t.Binary, cmd.Name)
	}
	switch *output {
	case "pretty", "human":
	case "json":
		e.JSON = true
	default:
		return nil, fmt.Errorf("-output must be pretty or json, not %q", *output)
	}
	return run(ctx, e)
}

// lookup finds the command named by the first words of args; the longest name wins.
func (t Table) lookup(args []string) (Command, []string, bool) {
	best, n := Command{}, 0
	for _, c := range t.Commands {
		words := strings.Fields(c.Name)
		if len(words) > n && len(args) >= len(words) && strings.Join(args[:len(words)], " ") == c.Name {
			best, n = c, len(words)
		}
	}
	return best, args[n:], n > 0
}

// Lookup reports how many leading words of args name a command (0: none).
func (t Table) Lookup(args []string) int {
	_, rest, ok := t.lookup(args)
	if !ok {
		return 0
	}
	return len(args) - len(rest)
}

// Usage prints the command list.
func (t Table) Usage(w io.Writer) {
	fmt.Fprintf(w, "Usage: %s <command> [flags]\n\nCommands:\n", t.Binary)
	for _, c := range t.Outside {
		fmt.Fprintf(w, "  %-28s %s\n", c[0], c[1])
	}
	for _, c := range t.Commands {
		fmt.Fprintf(w, "  %-28s %s\n", c.Name, c.Synopsis)
	}
	fmt.Fprintf(w, "\nRun '%s <command> -h' for the flags of a command.", t.Binary)
	if len(t.Outside) > 0 {
		var names []string
		for _, c := range t.Outside {
			names = append(names, c[0])
		}
		fmt.Fprintf(w, "\nEvery command but %s takes -output pretty|json.", strings.Join(names, ", "))
	}
	fmt.Fprintln(w)
	if t.Footer != "" {
		fmt.Fprintf(w, "%s\n", t.Footer)
	}
}

// OneLine keeps an error on a single line: a multi-line message would break scripts that
// read the first line of stderr.
func OneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// Call is a command that talks to a peer (a server's or agent's socket), once its flags
// are parsed: Check reads and validates them, and nothing is dialled before it returns
// nil (nil: nothing to check); Do talks to the peer over conn.
type Call[C any] struct {
	Check func(e *Env) error
	Do    func(ctx context.Context, e *Env, conn C) (*Output, error)
}

// Dialer registers the flags that say where the peer is (e.g. -socketPath) and returns
// the function that connects to it; close ends the connection.
type Dialer[C any] func(fs *flag.FlagSet) func(ctx context.Context) (conn C, close func(), err error)

// Connected is a row of a table for a command of kind Call: the dialer's flags and the
// command's own, then check, dial, do.
func Connected[C any](name, synopsis string, dialer Dialer[C], flags func(fs *flag.FlagSet) Call[C]) Command {
	return Command{Name: name, Synopsis: synopsis, Flags: func(fs *flag.FlagSet) Run {
		dial := dialer(fs)
		c := flags(fs)
		return func(ctx context.Context, e *Env) (*Output, error) {
			if c.Check != nil {
				if err := c.Check(e); err != nil {
					return nil, err
				}
			}
			conn, closeConn, err := dial(ctx)
			if err != nil {
				return nil, err
			}
			defer closeConn()
			return c.Do(ctx, e, conn)
		}
	}}
}

// Send is the Do of a command made of one request: rpc makes it (a failure is reported
// as "what: Code: message"), text prints the answer; -output json prints it as it is.
func Send[C any, T proto.Message](what string, rpc func(context.Context, C) (T, error), text func(io.Writer, T)) func(context.Context, *Env, C) (*Output, error) {
	return func(ctx context.Context, _ *Env, conn C) (*Output, error) {
		resp, err := rpc(ctx, conn)
		if err != nil {
			return nil, CallError(what, err)
		}
		return Print(resp, func(w io.Writer) { text(w, resp) }), nil
	}
}

// CallError turns a failed call into "what: Code: message".
func CallError(what string, err error) error {
	st, ok := status.FromError(err)
	if !ok {
		return fmt.Errorf("%s: %w", what, err)
	}
	return fmt.Errorf("%s: %s: %s", what, st.Code(), st.Message())
}
