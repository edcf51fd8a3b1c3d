package command

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// parseKV stands in for a binary's config parser: it records the documents it was given
// and refuses a document that says "bad".
func parseKV(got *[]string) func(docs ...[]byte) (struct{}, error) {
	return func(docs ...[]byte) (struct{}, error) {
		*got = nil
		for _, d := range docs {
			*got = append(*got, string(d))
			if strings.Contains(string(d), "bad") {
				return struct{}{}, errors.New("config: trust_domain \"bad\" is not a trust domain")
			}
		}
		return struct{}{}, nil
	}
}

func TestValidateReadsTheFileThenTheFlags(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "c.yaml")
	if err := os.WriteFile(file, []byte("trust_domain: ${LANYARD_TEST_TD}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("LANYARD_TEST_TD", "example.org")
	settings := []Setting{
		{Flag: "trustDomain", Key: "trust_domain", Usage: "trust domain"},
		{Flag: "serverPort", Key: "server_port", Usage: "port", Number: true},
	}
	for _, tt := range []struct {
		name     string
		args     []string
		code     int
		wantDocs []string
		wantErr  string
	}{
		{"the file is passed as it is", []string{"-config", file}, 0, []string{"trust_domain: ${LANYARD_TEST_TD}\n"}, ""},
		{"-expandEnv fills in the environment", []string{"-config", file, "-expandEnv"}, 0, []string{"trust_domain: example.org\n"}, ""},
		{"flags are a second document over the file", []string{"-config", file, "-trustDomain", "other.org", "-serverPort", "8081"}, 0,
			[]string{"trust_domain: ${LANYARD_TEST_TD}\n", "trust_domain: \"other.org\"\nserver_port: 8081\n"}, ""},
		{"flags alone are a configuration", []string{"-trustDomain", "other.org"}, 0, []string{"trust_domain: \"other.org\"\n"}, ""},
		{"a quote in a flag stays inside its value", []string{"-trustDomain", "a\"\nb: 1"}, 0, []string{"trust_domain: \"a\\\"\\nb: 1\"\n"}, ""},
		{"the parser's refusal is the one line", []string{"-trustDomain", "bad"}, 1, nil, "trust_domain \"bad\""},
		{"a number flag must be a number", []string{"-serverPort", "80a"}, 1, nil, "-serverPort \"80a\": give a number"},
		{"a missing file names -config", []string{"-config", filepath.Join(dir, "none.yaml")}, 1, nil, "reading -config"},
		{"nothing to read says what to give", nil, 1, nil, "give -config FILE"},
		{"an unknown flag is a usage error", []string{"-nope"}, 2, nil, "-nope"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var docs []string
			var out, errOut bytes.Buffer
			code := Validate(tt.args, &out, &errOut, parseKV(&docs), settings...)
			if code != tt.code {
				t.Fatalf("exit %d, want %d; stdout %q, stderr %q", code, tt.code, out.String(), errOut.String())
			}
			if code == 0 {
				if out.String() != "Configuration is valid\n" {
					t.Fatalf("stdout %q", out.String())
				}
				if strings.Join(docs, "|") != strings.Join(tt.wantDocs, "|") {
					t.Fatalf("parsed %q, want %q", docs, tt.wantDocs)
				}
				return
			}
			if !strings.Contains(errOut.String(), tt.wantErr) {
				t.Fatalf("stderr %q, want it to mention %q", errOut.String(), tt.wantErr)
			}
			if code == 1 && strings.Count(strings.TrimSpace(errOut.String()), "\n") != 0 {
				t.Fatalf("the error is more than one line: %q", errOut.String())
			}
		})
	}
}
