// Package spirehcltest holds the checks the server and agent migrate-config tests share:
// refusals named by key, both plugin_data forms, the fuzz property and the command's
// exit codes and output.
package spirehcltest

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/lanyard-dev/lanyard/internal/spirehcl"
)

// Convert is a converter: SPIRE HCL in, Lanyard YAML out.
type Convert func(file string, src []byte) ([]byte, error)

// Refusals checks that convert refuses each case (a SPIRE file, Src) with a line
// "file:N: ...Want...", and prints no YAML.
func Refusals(t *testing.T, convert Convert, file string, cases []struct{ Name, Src, Want string }) {
	t.Helper()
	for _, tt := range cases {
		t.Run(tt.Name, func(t *testing.T) {
			out, err := convert(file, []byte(tt.Src))
			var e *spirehcl.Error
			if !errors.As(err, &e) {
				t.Fatalf("Convert = %v\n%s\nwant a refusal containing %q", err, out, tt.Want)
			}
			if !slices.ContainsFunc(e.Lines, func(l string) bool {
				return strings.HasPrefix(l, file+":") && strings.Contains(l, tt.Want)
			}) {
				t.Fatalf("refusals:\n%s\nwant a line with %q", e, tt.Want)
			}
			if out != nil {
				t.Fatalf("a refused file still printed YAML:\n%s", out)
			}
		})
	}
}

// BothPluginDataForms converts head+" {"+body and head+" = {"+body (head ends with
// plugin_data), requires the same YAML from both and returns it.
func BothPluginDataForms(t *testing.T, convert Convert, head, body string) []byte {
	t.Helper()
	block, err := convert("a.conf", []byte(head+" {"+body))
	if err != nil {
		t.Fatal(err)
	}
	assign, err := convert("a.conf", []byte(head+" = {"+body))
	if err != nil {
		t.Fatal(err)
	}
	if string(block) != string(assign) {
		t.Fatalf("plugin_data { } gave\n%s\nplugin_data = { } gave\n%s", block, assign)
	}
	return block
}

// OneLineSyntaxError checks that malformed src fails with one line naming file and position.
func OneLineSyntaxError(t *testing.T, convert Convert, file, src string) {
	t.Helper()
	_, err := convert(file, []byte(src))
	if err == nil || strings.Contains(err.Error(), "\n") || !strings.HasPrefix(err.Error(), file+":") {
		t.Fatalf("error = %q, want one line starting with %s:LINE:COLUMN", err, file)
	}
	if rest := strings.TrimPrefix(err.Error(), file+":"); rest == "" || rest[0] < '1' || rest[0] > '9' {
		t.Fatalf("error = %q, want the line number after the file name", err)
	}
}

// Fuzz is the fuzz property of a converter: YAML or an error, never both, never a panic,
// and the YAML well formed.
func Fuzz(convert Convert) func(*testing.T, []byte) {
	return func(t *testing.T, src []byte) {
		out, err := convert("fuzz.conf", src)
		if err != nil {
			if out != nil {
				t.Fatalf("Convert returned both YAML and %v", err)
			}
			return
		}
		var v map[string]any
		if err := yaml.Unmarshal(out, &v); err != nil {
			t.Fatalf("Convert printed YAML that does not parse: %v\n%s", err, out)
		}
	}
}

// Run is a binary's entry point: arguments, stdout, stderr, exit code.
type Run func(args []string, stdout, stderr *bytes.Buffer) int

// CommandCase is one run of `migrate-config FILE`: Src is written to FILE (none when
// empty); Stderr lines must each appear, and stderr must have StderrLines lines.
type CommandCase struct {
	Name, Src   string
	Code        int
	Stdout      string
	Stderr      []string
	StderrLines int
}

// Command runs each case and then checks that `validate -config` accepts what the first
// successful case printed.
func Command(t *testing.T, run Run, cases []CommandCase) {
	t.Helper()
	dir := t.TempDir()
	var converted []byte
	for i, tt := range cases {
		t.Run(tt.Name, func(t *testing.T) {
			args := []string{"migrate-config"}
			if tt.Src != "" {
				file := filepath.Join(dir, "spire"+string(rune('a'+i))+".conf")
				if err := os.WriteFile(file, []byte(tt.Src), 0o600); err != nil {
					t.Fatal(err)
				}
				args = append(args, file)
			}
			var out, errOut bytes.Buffer
			code := run(args, &out, &errOut)
			if code != tt.Code || !strings.Contains(out.String(), tt.Stdout) {
				t.Fatalf("exit %d, stdout %q, stderr %q; want exit %d, stdout with %q", code, out.String(), errOut.String(), tt.Code, tt.Stdout)
			}
			for _, want := range tt.Stderr {
				if !strings.Contains(errOut.String(), want) {
					t.Errorf("stderr %q lacks %q", errOut.String(), want)
				}
			}
			if rows := strings.Count(errOut.String(), "\n"); rows != tt.StderrLines {
				t.Errorf("stderr has %d lines, want %d: %q", rows, tt.StderrLines, errOut.String())
			}
			if code != 0 && out.Len() != 0 {
				t.Errorf("a failure printed to stdout: %q", out.String())
			}
			if code == 0 && converted == nil {
				converted = out.Bytes()
			}
		})
	}
	if converted == nil {
		return
	}
	yamlFile := filepath.Join(dir, "lanyard.yaml")
	if err := os.WriteFile(yamlFile, converted, 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	if code := run([]string{"validate", "-config", yamlFile}, &out, &errOut); code != 0 {
		t.Fatalf("validate refuses migrate-config's output: %s\n%s", errOut.String(), converted)
	}
}

// ConvertAndParse converts src and parses the YAML with the binary's own config parser.
func ConvertAndParse[C any](t *testing.T, convert Convert, parse func(...[]byte) (C, error), src string) (C, string) {
	t.Helper()
	out, err := convert("spire.conf", []byte(src))
	if err != nil {
		t.Fatalf("Convert: %v", err)
	}
	cfg, err := parse(out)
	if err != nil {
		t.Fatalf("Lanyard refuses the converted config: %v\n%s", err, out)
	}
	return cfg, string(out)
}

// Fields compares parsed values with what they should be; out is the YAML, shown on failure.
func Fields(t *testing.T, out string, fields []struct {
	Name      string
	Got, Want any
}) {
	t.Helper()
	for _, f := range fields {
		if !reflect.DeepEqual(f.Got, f.Want) {
			t.Errorf("%s = %#v, want %#v\n%s", f.Name, f.Got, f.Want, out)
		}
	}
}

// Parsed converts each case's SPIRE file, parses it with parse and runs its check.
func Parsed[C any](t *testing.T, convert Convert, parse func(...[]byte) (C, error), cases []struct {
	Name, Src string
	Check     func(C) bool
}) {
	t.Helper()
	for _, tt := range cases {
		t.Run(tt.Name, func(t *testing.T) {
			cfg, out := ConvertAndParse(t, convert, parse, tt.Src)
			if !tt.Check(cfg) {
				t.Fatalf("unexpected result:\n%s", out)
			}
		})
	}
}

// SameOutput checks that two SPIRE files (e.g. the HCL and JSON forms of one
// configuration) convert to the same YAML.
func SameOutput(t *testing.T, convert Convert, fileA, fileB string) {
	t.Helper()
	var outs [2][]byte
	for i, file := range []string{fileA, fileB} {
		src, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		if outs[i], err = convert("spire.conf", src); err != nil {
			t.Fatal(err)
		}
	}
	if string(outs[0]) != string(outs[1]) {
		t.Fatalf("%s gave\n%s\n%s gave\n%s", fileA, outs[0], fileB, outs[1])
	}
}
