package spirehcl

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// File is a parsed SPIRE configuration file being converted.
type File struct {
	// Root holds the top-level blocks (server or agent, plugins, health_checks, ...).
	Root *Section
	p    *problems
}

// Parse reads a SPIRE HCL file. A syntax error is one line naming file and position.
func Parse(file string, src []byte) (*File, error) {
	items, err := parse(file, src)
	if err != nil {
		return nil, err
	}
	p := &problems{file: file}
	return &File{Root: newSection("", 1, items, p), p: p}, nil
}

// Err returns every refusal recorded while walking, as an *Error, or nil.
func (f *File) Err() error { return f.p.err() }

// Section is one HCL block. Reading a key marks it taken; Done refuses the rest by name.
type Section struct {
	path  string
	line  int
	items []*item
	used  []bool
	label string
	p     *problems
}

func newSection(path string, line int, items []*item, p *problems) *Section {
	return &Section{path: path, line: line, items: items, used: make([]bool, len(items)), p: p}
}

// Path is the dotted name of the block, e.g. `plugins.DataStore "sql".plugin_data`.
func (s *Section) Path() string { return s.path }

// Line is where the block starts.
func (s *Section) Line() int { return s.line }

// Key is the dotted name of key k in this block, as problems name it.
func (s *Section) Key(k string) string {
	if s.path == "" {
		return k
	}
	return s.path + "." + k
}

// Refusef records a problem with key k of this block.
func (s *Section) Refusef(line int, k, format string, args ...any) {
	s.p.add(line, s.Key(k), fmt.Sprintf(format, args...))
}

// Has reports whether key k is present, without taking it.
func (s *Section) Has(k string) bool {
	for _, it := range s.items {
		if len(it.keys) > 0 && it.keys[0] == k {
			return true
		}
	}
	return false
}

// take returns the one plain `k = v` or `k { }` item, marking it taken; a repeated key is
// a problem.
func (s *Section) take(k string) *item {
	var found *item
	for i, it := range s.items {
		if len(it.keys) != 1 || it.keys[0] != k {
			continue
		}
		s.used[i] = true
		if found != nil {
			s.Refusef(it.line, k, "is given more than once: keep one")
			continue
		}
		found = it
	}
	return found
}

// Drop takes key k without using it and reports whether it was there.
func (s *Section) Drop(k string) bool {
	found := false
	for i, it := range s.items {
		if len(it.keys) > 0 && it.keys[0] == k {
			s.used[i] = true
			found = true
		}
	}
	return found
}

// Refuse takes key k, if present, and refuses it with msg.
func (s *Section) Refuse(k, msg string) {
	if s.Drop(k) {
		s.Refusef(s.firstLine(k), k, "%s", msg)
	}
}

// firstLine is where key k (in any form) first appears.
func (s *Section) firstLine(k string) int {
	for _, it := range s.items {
		if len(it.keys) > 0 && it.keys[0] == k {
			return it.line
		}
	}
	return s.line
}

// String returns string key k (a number is taken as its text, as SPIRE's decoder does).
func (s *Section) String(k string) (string, bool) {
	it := s.take(k)
	if it == nil {
		return "", false
	}
	switch v := it.val.lit.(type) {
	case string:
		return v, true
	case int64:
		return strconv.FormatInt(v, 10), true
	}
	s.Refusef(it.line, k, "want a string, e.g. %s = \"...\"", k)
	return "", false
}

// Int returns integer key k, also written as a quoted number ("8081") as SPIRE allows.
func (s *Section) Int(k string) (int, bool) {
	it := s.take(k)
	if it == nil {
		return 0, false
	}
	switch v := it.val.lit.(type) {
	case int64:
		if v >= -1<<31 && v < 1<<31 {
			return int(v), true
		}
	case string:
		if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && n >= -1<<31 && n < 1<<31 {
			return n, true
		}
	}
	s.Refusef(it.line, k, "want a whole number, e.g. %s = 8081", k)
	return 0, false
}

// Bool returns boolean key k, also written "true" or "false".
func (s *Section) Bool(k string) (bool, bool) {
	it := s.take(k)
	if it == nil {
		return false, false
	}
	switch v := it.val.lit.(type) {
	case bool:
		return v, true
	case string:
		if b, err := strconv.ParseBool(v); err == nil {
			return b, true
		}
	}
	s.Refusef(it.line, k, "want true or false")
	return false, false
}

// Duration returns duration key k, written as Go durations ("1h30m") as SPIRE reads them.
func (s *Section) Duration(k string) (time.Duration, bool) {
	line := s.lineOf(k)
	v, ok := s.String(k)
	if !ok {
		return 0, false
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		s.Refusef(line, k, "%q is not a duration: write e.g. \"1h\" or \"30m\"", v)
		return 0, false
	}
	return d, true
}

// Strings returns list-of-strings key k.
func (s *Section) Strings(k string) ([]string, bool) {
	it := s.take(k)
	if it == nil {
		return nil, false
	}
	if it.val.list == nil {
		s.Refusef(it.line, k, "want a list of strings, e.g. %s = [\"a\", \"b\"]", k)
		return nil, false
	}
	out := []string{}
	for _, e := range it.val.list {
		str, ok := e.lit.(string)
		if !ok {
			s.Refusef(e.line, k, "want a list of strings, e.g. %s = [\"a\", \"b\"]", k)
			return nil, false
		}
		out = append(out, str)
	}
	return out, true
}

// Block returns block k, written `k { ... }` or `k = { ... }` (or null in JSON: empty).
func (s *Section) Block(k string) (*Section, bool) {
	it := s.take(k)
	if it == nil {
		return nil, false
	}
	if it.val.obj == nil && (it.val.lit != nil || it.val.list != nil) {
		s.Refusef(it.line, k, "want a block, e.g. %s { ... }", k)
		return nil, false
	}
	return newSection(s.Key(k), it.line, it.val.obj, s.p), true
}

// Labeled returns the blocks `k "label" { ... }`, also written `k = { "label" = { ... } }`,
// each named by its label (Label).
func (s *Section) Labeled(k string) []*Section {
	var out []*Section
	for i, it := range s.items {
		if s.used[i] || len(it.keys) == 0 || it.keys[0] != k {
			continue
		}
		s.used[i] = true
		switch {
		case len(it.keys) == 2 && it.val.obj != nil:
			out = append(out, s.labeled(k, it.keys[1], it.line, it.val.obj))
		case len(it.keys) == 1 && it.val.obj != nil:
			for _, in := range it.val.obj {
				if len(in.keys) != 1 || in.val.obj == nil {
					s.Refusef(in.line, k, "want blocks %s \"name\" { ... }", k)
					continue
				}
				out = append(out, s.labeled(k, in.keys[0], in.line, in.val.obj))
			}
		default:
			s.Refusef(it.line, k, "want blocks %s \"name\" { ... }", k)
		}
	}
	return out
}

func (s *Section) labeled(k, label string, line int, items []*item) *Section {
	sec := newSection(s.Key(fmt.Sprintf("%s %q", k, label)), line, items, s.p)
	sec.label = label
	return sec
}

// Label is the label of a block returned by Labeled or Entries.
func (s *Section) Label() string { return s.label }

// Entries returns every item of a map-like block (`clusters = { "prod" = { ... } }`) as a
// block named by its key, taking them all.
func (s *Section) Entries() []*Section {
	var out []*Section
	for i, it := range s.items {
		s.used[i] = true
		if len(it.keys) != 1 || it.val.obj == nil {
			s.Refusef(it.line, strings.Join(it.keys, "."), "want \"name\" = { ... }")
			continue
		}
		sec := newSection(s.Key(strconv.Quote(it.keys[0])), it.line, it.val.obj, s.p)
		sec.label = it.keys[0]
		out = append(out, sec)
	}
	return out
}

func (s *Section) takeAll() {
	for i := range s.used {
		s.used[i] = true
	}
}

// Done refuses every key of the block that nothing took, by name.
func (s *Section) Done() {
	for i, it := range s.items {
		if s.used[i] {
			continue
		}
		k := it.keys[0]
		if len(it.keys) > 1 {
			k = fmt.Sprintf("%s %q", it.keys[0], it.keys[1])
		}
		s.Refusef(it.line, k, "not supported by Lanyard: remove it (the README lists what Lanyard configures)")
	}
}

func (s *Section) lineOf(k string) int {
	for _, it := range s.items {
		if len(it.keys) == 1 && it.keys[0] == k {
			return it.line
		}
	}
	return s.line
}

// LineOf is where key k is, or where the block starts when k is absent.
func (s *Section) LineOf(k string) int { return s.lineOf(k) }
