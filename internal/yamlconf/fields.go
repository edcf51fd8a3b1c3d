package yamlconf

import (
	"errors"
	"fmt"
	"strconv"
	"time"

	"gopkg.in/yaml.v3"
)

// FieldError is how both binaries refuse a setting: "config: FIELD MSG", where MSG says
// what is wrong and how to fix it.
func FieldError(field, msg string) error { return fmt.Errorf("config: %s %s", field, msg) }

// Parse decodes each document in turn over v (the file, then e.g. the settings of
// command-line flags), so a later one overrides an earlier one. A value that does not
// parse is reported under its dotted key ("ca_ttl"), not only its line.
func Parse(v any, docs ...[]byte) error {
	for _, doc := range docs {
		if err := Decode(doc, v); err != nil {
			var le *LineError
			if errors.As(err, &le) {
				return FieldError(keyAtLine(doc, le.Line), le.Msg)
			}
			return fmt.Errorf("config: %w", err)
		}
	}
	return nil
}

// LineError is a value that does not parse, with its line, so that Parse can name its key.
// Unmarshalers of setting types return it.
type LineError struct {
	Line int
	Msg  string
}

func (e *LineError) Error() string { return fmt.Sprintf("line %d: %s", e.Line, e.Msg) }

// IsPort reports whether s is a port number. net.Listen would also look up "+80" or a
// service name, so "127.0.0.1:A" would pass validation and fail only at start.
func IsPort(s string) bool {
	_, err := strconv.ParseUint(s, 10, 16)
	return err == nil
}

// Duration is a time.Duration written like "1h30m" in YAML; a bare number is seconds.
type Duration time.Duration

// maxSeconds is the longest Duration in whole seconds.
const maxSeconds = int64(1<<63-1) / int64(time.Second)

// UnmarshalYAML implements yaml.Unmarshaler.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		if secs, convErr := strconv.ParseInt(n.Value, 10, 64); convErr == nil {
			// Beyond ±292 years the nanoseconds wrap around: 18446916874 would read as 48h.
			if secs > maxSeconds || secs < -maxSeconds {
				return &LineError{Line: n.Line, Msg: fmt.Sprintf("%s seconds is too long (write e.g. 30s, 5m, 24h)", n.Value)}
			}
			*d = Duration(time.Duration(secs) * time.Second)
			return nil
		}
		return &LineError{Line: n.Line, Msg: fmt.Sprintf("%q is not a duration (write e.g. 30s, 5m, 24h)", n.Value)}
	}
	*d = Duration(v)
	return nil
}

// D returns the time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// keyAtLine returns the dotted key whose value starts on line, or "line N".
func keyAtLine(doc []byte, line int) string {
	var root yaml.Node
	if err := yaml.Unmarshal(doc, &root); err == nil {
		if k := findKey(&root, line, ""); k != "" {
			return k
		}
	}
	return fmt.Sprintf("line %d", line)
}

func findKey(n *yaml.Node, line int, prefix string) string {
	switch n.Kind {
	case yaml.DocumentNode:
		for _, c := range n.Content {
			if k := findKey(c, line, prefix); k != "" {
				return k
			}
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			key := prefix + n.Content[i].Value
			if n.Content[i+1].Line == line && n.Content[i+1].Kind == yaml.ScalarNode {
				return key
			}
			if k := findKey(n.Content[i+1], line, key+"."); k != "" {
				return k
			}
		}
	}
	return ""
}

// Logging checks the two logging settings both binaries have.
func Logging(level, format string) error {
	switch level {
	case "debug", "info", "warn", "error":
	default:
		return FieldError("log_level", fmt.Sprintf("%q: use debug, info, warn or error", level))
	}
	switch format {
	case "text", "json":
	default:
		return FieldError("log_format", fmt.Sprintf("%q: use text or json", format))
	}
	return nil
}
