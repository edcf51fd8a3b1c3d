package yamlconf

import (
	"bytes"
	"errors"
	"fmt"
	"io"

	"gopkg.in/yaml.v3"
)

// ErrSecondDocument is returned when the input holds more than one non-empty document.
var ErrSecondDocument = errors.New("holds a second YAML document")

// Decode reads the one YAML document in data over v. Empty input leaves v as it is; so
// does an empty document after the first (a trailing "---"). Errors from yaml.v3 are
// returned unwrapped in meaning (errors.As still finds them).
func Decode(data []byte, v any) error {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil {
		if errors.Is(err, io.EOF) {
			return nil
		}
		return err
	}
	for {
		var next yaml.Node
		err := dec.Decode(&next)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		for _, c := range next.Content {
			if !(c.Kind == yaml.ScalarNode && c.Tag == "!!null") {
				return fmt.Errorf("%w at line %d, which would be ignored: put every setting in one document (remove the \"---\" separator)", ErrSecondDocument, c.Line)
			}
		}
	}
}
