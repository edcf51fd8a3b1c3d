package command

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"io"
	"strings"
	"testing"

	"github.com/spiffe/spire-api-sdk/proto/spire/api/types"
	"google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

func runTable(tbl Table, args ...string) (stdout, stderr string, code int) {
	var out, errOut bytes.Buffer
	code = tbl.Run(context.Background(), &Env{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errOut}, args)
	return out.String(), errOut.String(), code
}

func TestTable(t *testing.T) {
	var gotName string
	tbl := Table{Binary: "prog", Commands: []Command{
		{Name: "thing show", Synopsis: "Show a thing", Flags: func(fs *flag.FlagSet) Run {
			name := fs.String("name", "", "the thing")
			return func(context.Context, *Env) (*Output, error) {
				gotName = *name
				return Print(wrapperspb.String(*name), func(w io.Writer) { w.Write([]byte("thing " + *name + "\n")) }), nil
			}
		}},
		{Name: "thing fail", Synopsis: "Fail after printing", Flags: func(*flag.FlagSet) Run {
			return func(context.Context, *Env) (*Output, error) {
				return Print(wrapperspb.Int32(1), func(w io.Writer) { w.Write([]byte("partial\n")) }), errors.New("two\nlines")
			}
		}},
	}}
	tests := []struct {
		name           string
		args           []string
		stdout, stderr string
		code           int
	}{
		{"text output", []string{"thing", "show", "-name", "a"}, "thing a\n", "", 0},
		{"-output json is protojson on one line", []string{"thing", "show", "-name", "a", "-output", "json"}, `"a"` + "\n", "", 0},
		{"an error is one line after what was printed", []string{"thing", "fail"}, "partial\n", "Error: two lines\n", 1},
		{"an unknown flag", []string{"thing", "show", "-nme", "a"}, "", "Error: thing show: flag provided but not defined: -nme (run 'prog thing show -h' for usage)\n", 1},
		{"a stray argument", []string{"thing", "show", "a"}, "", "Error: thing show: unexpected argument \"a\": every value is given with a flag (run 'prog thing show -h' for usage)\n", 1},
		{"a bad -output", []string{"thing", "show", "-output", "yaml"}, "", "Error: -output must be pretty or json, not \"yaml\"\n", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, errOut, code := runTable(tbl, tt.args...)
			if out != tt.stdout || errOut != tt.stderr || code != tt.code {
				t.Errorf("stdout %q, stderr %q, exit %d; want %q, %q, %d", out, errOut, code, tt.stdout, tt.stderr, tt.code)
			}
		})
	}
	if gotName != "a" {
		t.Errorf("the flag reached run as %q", gotName)
	}
	t.Run("an unknown command is one line, then the usage", func(t *testing.T) {
		_, errOut, code := runTable(tbl, "thing", "burn")
		first, rest, _ := strings.Cut(errOut, "\n")
		if code != 1 || first != `Error: unknown command "thing burn": use one of the commands below` || !strings.Contains(rest, "thing show") {
			t.Errorf("exit %d, stderr:\n%s", code, errOut)
		}
	})
}

func TestHealthReport(t *testing.T) {
	report := func(args []string, status grpc_health_v1.HealthCheckResponse_ServingStatus) (string, error) {
		fs := flag.NewFlagSet("healthcheck", flag.ContinueOnError)
		h := HealthFlags(fs, "Server")
		if err := fs.Parse(args); err != nil {
			t.Fatal(err)
		}
		out, err := h.Report(status, "")
		var buf bytes.Buffer
		if out != nil && out.Text != nil {
			_ = out.Text(&buf)
		}
		return buf.String(), err
	}
	if _, err := report(nil, grpc_health_v1.HealthCheckResponse_NOT_SERVING); err == nil || err.Error() != "server is unhealthy: health status NOT_SERVING" {
		t.Errorf("a server not serving: %v", err)
	}
	if out, err := report([]string{"-shallow"}, grpc_health_v1.HealthCheckResponse_NOT_SERVING); err != nil || out != "Server is alive (health status NOT_SERVING).\n" {
		t.Errorf("-shallow: %q, %v", out, err)
	}
	if out, err := report([]string{"-verbose"}, grpc_health_v1.HealthCheckResponse_NOT_SERVING); err == nil || out != "Health status: NOT_SERVING\n" {
		t.Errorf("-verbose of a server not serving prints its status before failing: %q, %v", out, err)
	}
}

// The JSON is what SPIRE's CLI prints for the same answer: keys sorted, zero scalars and
// empty lists present, unset messages absent, int64 as strings, <>& escaped.
func TestPrintJSONIsSPIREsShape(t *testing.T) {
	var buf bytes.Buffer
	msg := &types.Entry{Id: "e1", Hint: "a<b>&c", SpiffeId: &types.SPIFFEID{TrustDomain: "example.org", Path: "/w"}, ExpiresAt: 1900000000}
	if err := PrintJSON(&buf, msg); err != nil {
		t.Fatal(err)
	}
	want := `{"admin":false,"created_at":"0","dns_names":[],"downstream":false,"expires_at":"1900000000","federates_with":[],` +
		`"hint":"a\u003cb\u003e\u0026c","id":"e1","jwt_svid_ttl":0,"revision_number":"0","selectors":[],` +
		`"spiffe_id":{"path":"/w","trust_domain":"example.org"},"store_svid":false,"x509_svid_ttl":0}` + "\n"
	if buf.String() != want {
		t.Errorf("got  %s\nwant %s", buf.String(), want)
	}
}
