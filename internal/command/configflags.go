package command

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
)

// Setting is a command-line flag that sets one top-level key of the configuration file
// over what the file says, named as SPIRE's binaries name it (-trustDomain, -dataDir, ...).
type Setting struct {
	Flag, Key, Usage string
	Number           bool // the key holds a number: the value must be one and is written unquoted
}

// ConfigFlags are the flags `run` and `validate` find a configuration with: -config FILE,
// -expandEnv (replace $VAR and ${VAR} in the file from the environment before parsing, as
// SPIRE's flag does) and the Settings.
type ConfigFlags struct {
	path      *string
	expandEnv *bool
	settings  []Setting
	values    []*string
}

// NewConfigFlags registers the configuration flags on fs.
func NewConfigFlags(fs *flag.FlagSet, settings ...Setting) *ConfigFlags {
	c := &ConfigFlags{
		path:      fs.String("config", "", "path to the YAML configuration file"),
		expandEnv: fs.Bool("expandEnv", false, "replace $VAR and ${VAR} in the configuration file with the environment's values"),
		settings:  settings,
	}
	for _, s := range settings {
		c.values = append(c.values, fs.String(s.Flag, "", s.Usage+"; overrides the configuration file"))
	}
	return c
}

// Docs returns the YAML documents to parse in turn: the file, then one document holding
// the settings given as flags. Errors name the flag to fix.
func (c *ConfigFlags) Docs() ([][]byte, error) {
	var docs [][]byte
	if *c.path != "" {
		data, err := os.ReadFile(*c.path)
		if err != nil {
			return nil, fmt.Errorf("reading -config: %w", err)
		}
		if *c.expandEnv {
			data = []byte(os.ExpandEnv(string(data)))
		}
		docs = append(docs, data)
	}
	var set strings.Builder
	for i, s := range c.settings {
		v := *c.values[i]
		switch {
		case v == "":
			continue
		case s.Number:
			if _, err := strconv.ParseUint(v, 10, 31); err != nil {
				return nil, fmt.Errorf("-%s %q: give a number", s.Flag, v)
			}
			fmt.Fprintf(&set, "%s: %s\n", s.Key, v)
		default:
			fmt.Fprintf(&set, "%s: %s\n", s.Key, strconv.Quote(v))
		}
	}
	if set.Len() > 0 {
		docs = append(docs, []byte(set.String()))
	}
	if len(docs) == 0 {
		return nil, errors.New("give -config FILE (or the settings as flags; see -h)")
	}
	return docs, nil
}

// Validate is the `validate` command of a binary whose configuration parse reads: it
// checks the configuration without starting anything, as SPIRE's `validate` does.
func Validate[C any](args []string, stdout, stderr io.Writer, parse func(docs ...[]byte) (C, error), settings ...Setting) int {
	fs := flag.NewFlagSet("validate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cf := NewConfigFlags(fs, settings...)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	docs, err := cf.Docs()
	if err == nil {
		_, err = parse(docs...)
	}
	if err != nil {
		fmt.Fprintln(stderr, "Error:", err)
		return 1
	}
	fmt.Fprintln(stdout, "Configuration is valid")
	return 0
}
